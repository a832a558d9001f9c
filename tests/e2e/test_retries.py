"""Retries, per-try timeouts and request timeouts, through a real Envoy."""

from __future__ import annotations

import statistics

from breakwater.devtools.traffic import TrafficResult
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

SERVICE = service("payments", "only") + PAYMENTS_ROUTE


def retry_policy(attempts: int) -> str:
    # A short backoff keeps 200 sequential requests quick; the backoff itself
    # is measured in the per-try timeout test.
    return SERVICE + resilience_policy(
        "payments-retry",
        f"""\
  retry:
    attempts: {attempts}
    backoff: {{baseInterval: 2ms, maxInterval: 5ms}}
""",
    )


def test_retries_hide_an_upstream_that_fails_every_second_request(mesh: Mesh) -> None:
    only = mesh.upstream("only", service="payments", fail_every=2)
    mesh.start(retry_policy(attempts=3))

    # One request at a time: the upstream numbers the attempts it serves, so
    # every request's first attempt after the first lands on an even number
    # and fails, and its retry lands on an odd one and succeeds.
    result = mesh.send(200)
    upstream = only.stats()
    retries = mesh.cluster_stat("payments", "upstream_rq_retry")

    assert result.ok / result.total >= 0.99, result.summary()
    assert result.errors == 0, result.summary()
    assert upstream.status(503) == 199, upstream
    # Envoy retried exactly the failed attempts, and every retry succeeded.
    assert retries == upstream.status(503)
    assert mesh.cluster_stat("payments", "upstream_rq_retry_success") == retries
    assert mesh.cluster_stat("payments", "upstream_rq_retry_limit_exceeded") == 0
    # Envoy counts the retried 503s apart from the responses it returned.
    assert mesh.cluster_stat("payments", "retry.upstream_rq_503") == retries
    assert mesh.cluster_stat("payments", "upstream_rq_503") == 0

    # The same traffic with retries off: the policy file changes, the control
    # plane notices and pushes a new route, and the failures show.
    mesh.write_policies(retry_policy(attempts=1))
    mesh.wait_for(
        lambda: (
            (mesh.route_action("payments/0/0") or {}).get("retry_policy", {}).get("num_retries")
            == 0
        ),
        5.0,
        "the route without retries",
    )
    only.reset_stats()
    result = mesh.send(200)

    assert result.by_status[503] == 100, result.summary()
    assert result.ok == 100, result.summary()
    assert mesh.cluster_stat("payments", "upstream_rq_retry") == retries
    assert mesh.cluster_stat("payments", "upstream_rq_503") == 100


PER_TRY_TIMEOUT = 0.3
SLOW_FIRST_ATTEMPTS = 8


def per_try_policy(bulkhead: str = "") -> str:
    return SERVICE + resilience_policy(
        "payments-retry",
        f"""\
  timeout: {{request: 2s}}
  retry:
    attempts: 2
    perTryTimeout: 300ms
    # Envoy waits a random time in [0, baseInterval) before the first retry.
    backoff: {{baseInterval: 100ms, maxInterval: 100ms}}
{bulkhead}""",
    )


def send_slow_first_attempts(mesh: Mesh) -> TrafficResult:
    """Requests that all time out on their first attempt at once, each with its own id."""
    return mesh.send(
        SLOW_FIRST_ATTEMPTS,
        concurrency=SLOW_FIRST_ATTEMPTS,
        headers=lambda i: {"x-request-id": f"slow-first-{i}"},
    )


def test_a_slow_first_attempt_is_cut_at_the_per_try_timeout_and_retried(mesh: Mesh) -> None:
    # The first attempt of each request id sleeps 3 s; Envoy's retry carries
    # the same x-request-id and is answered at once.
    only = mesh.upstream("only", service="payments", first_attempt_delay=3.0)
    # Eight requests retry at the same moment: more than Envoy's default of
    # three retries in flight per cluster (see the next test).
    mesh.start(per_try_policy("  bulkhead: {maxConcurrentRetries: 8}\n"))

    result = send_slow_first_attempts(mesh)

    requests = SLOW_FIRST_ATTEMPTS
    assert result.ok == requests, result.summary()
    assert only.stats().delayed_first_attempts == requests
    # Every request waited out its per-try timeout, a jittered backoff and a
    # fast retry: 0.30 to 0.40 s on an idle machine. The bound leaves room for
    # a busy one and still shows the cut: the first attempt alone takes 3 s,
    # and the route's own timeout (2 s) never fires.
    for latency in result.latencies:
        assert PER_TRY_TIMEOUT <= latency < 1.0, result.latencies
    # The backoff is really there: on average half of baseInterval.
    assert statistics.mean(result.latencies) - PER_TRY_TIMEOUT > 0.005, result.latencies
    assert mesh.cluster_stat("payments", "upstream_rq_per_try_timeout") == requests
    assert mesh.cluster_stat("payments", "upstream_rq_retry") == requests
    assert mesh.cluster_stat("payments", "upstream_rq_retry_backoff_exponential") == requests
    assert mesh.cluster_stat("payments", "upstream_rq_retry_success") == requests
    assert mesh.cluster_stat("payments", "upstream_rq_retry_overflow") == 0
    # The whole-request timeout (2 s) never fired.
    assert mesh.cluster_stat("payments", "upstream_rq_timeout") == 0


def test_envoy_runs_at_most_three_retries_at_once_unless_the_bulkhead_says_more(
    mesh: Mesh,
) -> None:
    # The same policy without `maxConcurrentRetries`: Envoy's circuit breaker
    # default `max_retries: 3` applies to the whole cluster, so of eight
    # requests that need a retry at the same moment, five are not retried and
    # get the timed-out attempt's 504.
    mesh.upstream("only", service="payments", first_attempt_delay=3.0)
    mesh.start(per_try_policy())

    result = send_slow_first_attempts(mesh)

    assert result.ok == 3, result.summary()
    assert result.by_status[504] == SLOW_FIRST_ATTEMPTS - 3, result.summary()
    assert mesh.cluster_stat("payments", "upstream_rq_per_try_timeout") == SLOW_FIRST_ATTEMPTS
    assert mesh.cluster_stat("payments", "upstream_rq_retry") == 3
    assert mesh.cluster_stat("payments", "upstream_rq_retry_overflow") == SLOW_FIRST_ATTEMPTS - 3


def test_request_timeout_answers_504_after_the_timeout(mesh: Mesh) -> None:
    mesh.upstream("only", service="payments", latency=5.0)
    mesh.start(SERVICE + resilience_policy("payments-timeout", "  timeout: {request: 1s}\n"))

    requests = 3
    result = mesh.send(requests, concurrency=requests, timeout=4.0)

    assert result.by_status[504] == requests, result.summary()
    # About 1.0 s on an idle machine; the upstream would have taken 5 s. Envoy's timers
    # have millisecond resolution and can fire a little early (0.998 s seen on a fresh
    # machine), hence the 10 ms of slack below.
    for latency in result.latencies:
        assert 0.99 <= latency < 2.0, result.latencies
    assert mesh.cluster_stat("payments", "upstream_rq_timeout") == requests
    assert mesh.cluster_stat("payments", "upstream_rq_504") == requests
