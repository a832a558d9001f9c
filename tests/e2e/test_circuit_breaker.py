"""Circuit breakers (Envoy outlier detection) and bulkheads (Envoy circuit_breakers), for real.

Envoy's outlier detection ejects one *host* at a time; the service as a
whole never "opens". These tests show that, and the panic threshold that
sends traffic back to ejected hosts when too many are out.
"""

from __future__ import annotations

import time

from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service


def breaker(body: str) -> str:
    return resilience_policy("payments-breaker", body)


def test_consecutive_errors_eject_the_failing_host_until_open_duration_passes(
    mesh: Mesh,
) -> None:
    mesh.upstream("good", service="payments")
    bad = mesh.upstream("bad", service="payments", fail_fraction=1.0)
    mesh.start(
        service("payments", "good", "bad")
        + PAYMENTS_ROUTE
        + breaker(
            """\
  circuitBreaker:
    consecutiveErrors: 3
    interval: 1s
    openDuration: 1s
    # Envoy panics (and sends traffic to ejected hosts again) when fewer
    # than 50 % of the hosts are healthy. Two hosts with one ejected sit
    # exactly on that boundary; 0 turns panic mode off, so the outcome does
    # not hang on it.
    panicThreshold: 0
"""
        )
    )

    before = mesh.send(40)
    ejected_at = time.monotonic()

    # Round robin gives the bad host every other request until its third
    # failure in a row; from then on the good host takes everything.
    assert before.by_instance["bad"] == 3, before.summary()
    assert before.by_status[503] == 3, before.summary()
    assert mesh.cluster_stat("payments", "outlier_detection.ejections_enforced_total") == 1
    assert (
        mesh.cluster_stat("payments", "outlier_detection.ejections_enforced_consecutive_5xx") == 1
    )
    assert mesh.cluster_stat("payments", "outlier_detection.ejections_active") == 1
    assert mesh.host_flags("payments")["bad"].get("failed_outlier_check") is True
    assert "failed_outlier_check" not in mesh.host_flags("payments")["good"]

    during = mesh.send(20)
    assert during.by_instance == {"good": 20}, during.summary()

    # The bad host recovers. Envoy has no half-open probe: the host simply
    # returns once `openDuration` has passed, at the next `interval` tick.
    bad.configure(fail_fraction=0.0)

    def bad_serves_again() -> bool:
        return mesh.send(4).by_instance["bad"] > 0

    mesh.wait_for(bad_serves_again, 5.0, "the ejected host to return")
    returned_after = time.monotonic() - ejected_at
    assert returned_after >= 0.9, returned_after
    assert mesh.cluster_stat("payments", "outlier_detection.ejections_active") == 0
    after = mesh.send(20)
    assert after.by_instance == {"good": 10, "bad": 10}, after.summary()
    assert after.ok == 20, after.summary()


def test_when_most_hosts_are_ejected_envoy_panics_and_uses_them_all(mesh: Mesh) -> None:
    # Two of three hosts always fail. Both are ejected, which leaves 33 %
    # healthy: below Envoy's default panic threshold of 50 %, so Envoy stops
    # trusting health and balances over all three hosts again, ejected ones
    # included. The breaker "opens" and traffic still reaches the failing hosts.
    mesh.upstream("good", service="payments")
    mesh.upstream("bad_1", service="payments", fail_fraction=1.0)
    mesh.upstream("bad_2", service="payments", fail_fraction=1.0)
    mesh.start(
        service("payments", "good", "bad_1", "bad_2")
        + PAYMENTS_ROUTE
        + breaker(
            """\
  circuitBreaker:
    consecutiveErrors: 2
    openDuration: 30s
"""
        )
    )

    mesh.send(30)
    assert mesh.cluster_stat("payments", "outlier_detection.ejections_active") == 2

    # Envoy hands a host's health change to the load balancer at once, but
    # merges every further change within `update_merge_window` (default 1 s)
    # and delivers them when it closes: until then the second ejected host
    # still gets its round-robin share. Poll until panic mode shows.
    def panicking() -> bool:
        mesh.send(3)
        return mesh.cluster_stat("payments", "lb_healthy_panic") > 0

    mesh.wait_for(panicking, 3.0, "panic mode")
    panics = mesh.cluster_stat("payments", "lb_healthy_panic")

    after = mesh.send(60)

    assert after.by_instance == {"good": 20, "bad_1": 20, "bad_2": 20}, after.summary()
    assert after.by_status[503] == 40, after.summary()
    assert mesh.cluster_stat("payments", "lb_healthy_panic") - panics == 60
    assert mesh.cluster_stat("payments", "outlier_detection.ejections_active") == 2


def test_failure_rate_ejects_the_host_above_the_threshold_and_spares_the_one_below(
    mesh: Mesh,
) -> None:
    mesh.upstream("above", service="payments", fail_fraction=0.8, seed=7)
    below = mesh.upstream("below", service="payments", fail_every=5)  # 20 %
    mesh.upstream("clean", service="payments")
    mesh.start(
        service("payments", "above", "below", "clean")
        + PAYMENTS_ROUTE
        + breaker(
            """\
  circuitBreaker:
    failureRateThreshold: 50
    # Judged per host and per interval: each host must serve 10 requests
    # within one second to be judged at all.
    minimumRequests: 10
    interval: 1s
    openDuration: 30s
    # Breakwater's default minimumHosts is 1; Envoy's own default of 5 would
    # never judge this three-host cluster.
"""
        )
    )

    enforced = "outlier_detection.ejections_enforced_failure_percentage"
    with mesh.continuous(rate=100) as traffic:
        mesh.wait_for(
            lambda: mesh.cluster_stat("payments", enforced) >= 1, 5.0, "a failure-rate ejection"
        )
        ejected_at = traffic.snapshot().duration
        # Two more intervals of traffic: the host below the threshold is
        # judged again and stays in.
        traffic.wait_for(traffic.completed + 200, timeout=5.0)
        result = traffic.stop()

    hosts = mesh.host_flags("payments")
    assert hosts["above"].get("failed_outlier_check") is True, hosts
    assert "failed_outlier_check" not in hosts["below"], hosts
    assert "failed_outlier_check" not in hosts["clean"], hosts
    assert mesh.cluster_stat("payments", enforced) == 1
    assert mesh.cluster_stat("payments", "outlier_detection.ejections_enforced_total") == 1

    # After the ejection (and the requests already in flight), nothing reaches
    # the failing host, while the one at 20 % keeps serving with its failures.
    later = [record for record in result.records if record.started > ejected_at + 0.1]
    assert len(later) >= 150, result.summary()
    assert not [record for record in later if record.instance == "above"]
    assert {record.instance for record in later} == {"below", "clean"}
    assert below.stats().status(503) > 0


BULKHEAD_REQUESTS = 20
UPSTREAM_LATENCY = 1.0


def test_bulkhead_answers_the_overflow_with_an_immediate_503(mesh: Mesh) -> None:
    only = mesh.upstream("only", service="payments", latency=UPSTREAM_LATENCY)
    mesh.start(
        service("payments", "only")
        + PAYMENTS_ROUTE
        + breaker(
            f"""\
  bulkhead:
    maxConcurrentRequests: 5
    # Envoy counts a request as pending while its upstream connection is
    # being opened, so the queue must hold the requests that start together
    # on a cold pool; see the test below for what a queue of 0 does.
    maxQueuedRequests: {BULKHEAD_REQUESTS}
"""
        )
    )

    result = mesh.send(BULKHEAD_REQUESTS, concurrency=BULKHEAD_REQUESTS)

    served = [record for record in result.records if record.status == 200]
    refused = [record for record in result.records if record.status == 503]
    assert len(served) == 5, result.summary()
    assert len(refused) == BULKHEAD_REQUESTS - 5, result.summary()
    assert all(record.latency >= UPSTREAM_LATENCY for record in served)
    # Refused at once (a few ms when idle), not after waiting for a slot.
    assert all(record.latency < 0.5 for record in refused), [r.latency for r in refused]
    assert all(record.headers.get("x-envoy-overloaded") == "true" for record in refused)
    assert only.stats().max_in_flight == 5
    # Envoy 1.40 counts requests over `max_requests` as upstream_rq_active_overflow;
    # upstream_rq_pending_overflow is for requests over `max_pending_requests`.
    assert mesh.cluster_stat("payments", "upstream_rq_active_overflow") == len(refused)
    assert mesh.cluster_stat("payments", "upstream_rq_pending_overflow") == 0


def test_bulkhead_without_a_queue_still_serves_max_concurrent_requests(mesh: Mesh) -> None:
    only = mesh.upstream("only", service="payments", latency=UPSTREAM_LATENCY)
    mesh.start(
        service("payments", "only")
        + PAYMENTS_ROUTE
        + breaker(
            """\
  bulkhead:
    maxConcurrentRequests: 5
    maxQueuedRequests: 0
"""
        )
    )

    result = mesh.send(BULKHEAD_REQUESTS, concurrency=BULKHEAD_REQUESTS)

    assert result.ok == 5, result.summary()
    assert result.by_status[503] == BULKHEAD_REQUESTS - 5, result.summary()
    assert only.stats().max_in_flight == 5


def test_a_host_that_refuses_connections_is_ejected_by_the_local_origin_count(
    mesh: Mesh,
) -> None:
    # Three hosts: one refuses connections (nothing listens on its port), one
    # answers 503 to everything, one is good. With localOriginFailures the
    # proxy counts what it saw itself (refused connections) apart from what
    # hosts answered (503s): each bad host is ejected by its own detector.
    mesh.upstream("good", service="payments")
    mesh.upstream("failing", service="payments", fail_fraction=1.0)
    mesh.upstream("refusing", service="payments").stop()
    mesh.start(
        service("payments", "good", "failing", "refusing")
        + PAYMENTS_ROUTE
        + breaker(
            """\
  circuitBreaker:
    consecutiveErrors: 3
    localOriginFailures: 3
    openDuration: 30s
    panicThreshold: 0
  retry:
    attempts: 5
    backoff: {baseInterval: 1ms, maxInterval: 2ms}
"""
        )
    )

    result = mesh.send(30)

    assert result.ok == 30, result.summary()
    prefix = "outlier_detection."
    assert mesh.cluster_stat("payments", prefix + "ejections_enforced_total") == 2
    assert (
        mesh.cluster_stat(
            "payments", prefix + "ejections_enforced_consecutive_local_origin_failure"
        )
        == 1
    )
    # Refused connections did not count as 5xx: the 5xx detector ejected the
    # host that answered 503, and only that one.
    assert mesh.cluster_stat("payments", prefix + "ejections_enforced_consecutive_5xx") == 1
    flags = mesh.host_flags("payments")
    assert flags["refusing"].get("failed_outlier_check") is True
    assert flags["failing"].get("failed_outlier_check") is True
    assert "failed_outlier_check" not in flags["good"]
    assert mesh.cluster_stat("payments", "upstream_cx_connect_fail") >= 3
