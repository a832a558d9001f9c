"""`retry.hedge`: a slow attempt is not waited out, a hedged one races it, through a real Envoy."""

from __future__ import annotations

from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

PER_TRY_TIMEOUT = 0.3
SLOW = 3.0
FAST = 0.05
REQUESTS = 12


def test_hedged_requests_answer_within_the_per_try_timeout_plus_the_fast_hosts_latency(
    mesh: Mesh,
) -> None:
    slow = mesh.upstream("slow", service="payments", latency=SLOW)
    fast = mesh.upstream("fast", service="payments", latency=FAST)
    mesh.start(
        service("payments", "slow", "fast")
        + PAYMENTS_ROUTE
        + resilience_policy(
            "payments-hedge",
            """\
  timeout: {request: 5s}
  retry:
    attempts: 2
    perTryTimeout: 300ms
    hedge: true
    backoff: {baseInterval: 1ms, maxInterval: 1ms}
  bulkhead: {maxConcurrentRetries: 20}
""",
        )
    )

    result = mesh.send(REQUESTS, concurrency=4, timeout=10.0)

    assert result.ok == REQUESTS, result.summary()
    assert result.by_instance["fast"] == REQUESTS, result.summary()
    # Round robin sends about half the first attempts to the slow host.
    hedged = slow.stats().requests
    assert hedged >= 2, slow.stats()
    # Each answer came within the per-try timeout plus the fast host's
    # latency (0.35 s on an idle machine; the bound leaves room for a busy
    # one and is still far below the slow host's 3 s).
    assert max(result.latencies) < PER_TRY_TIMEOUT + FAST + 1.0, result.latencies
    # Envoy's own account. A hedged attempt's timeout is not counted as a
    # per-try timeout (the attempt is not cut there); each one shows as a
    # retry that succeeded, and the slow attempt it raced is reset only once
    # the hedge has answered.
    assert mesh.cluster_stat("payments", "upstream_rq_per_try_timeout") == 0
    assert mesh.cluster_stat("payments", "upstream_rq_retry") == hedged
    assert mesh.cluster_stat("payments", "upstream_rq_retry_success") == hedged
    assert mesh.cluster_stat("payments", "upstream_rq_total") == REQUESTS + hedged
    assert mesh.cluster_stat("payments", "upstream_cx_destroy_local_with_active_rq") == hedged
    # The previous-hosts predicate sent each hedge to the host not yet tried.
    assert fast.stats().requests == REQUESTS
