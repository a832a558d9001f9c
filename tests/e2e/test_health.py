"""Active health checks and failover to another service, through a real Envoy."""

from __future__ import annotations

from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

HEALTH_CHECK = """\
  healthCheck:
    interval: 250ms
    timeout: 500ms
    unhealthyThreshold: 1
    healthyThreshold: 1
    http: {path: /health}
"""


def health_policy(body: str) -> str:
    return resilience_policy("payments-health", body)


def test_a_host_failing_its_health_check_gets_no_traffic(mesh: Mesh) -> None:
    mesh.upstream("good", service="payments")
    bad = mesh.upstream("bad", service="payments", healthy=False)
    mesh.start(
        service("payments", "good", "bad")
        + PAYMENTS_ROUTE
        + health_policy(
            HEALTH_CHECK
            + """\
  circuitBreaker:
    # One of two hosts healthy is 50 %: exactly Envoy's default panic
    # threshold, one host away from sending traffic to the failing host
    # anyway. 0 turns panic mode off.
    panicThreshold: 0
"""
        ),
        healthy={"payments": 1},
    )

    result = mesh.send(100)

    assert result.by_instance == {"good": 100}, result.summary()
    assert result.ok == 100, result.summary()
    assert bad.stats().requests == 0
    assert bad.stats().health_checks >= 1
    assert mesh.cluster_stat("payments", "health_check.failure") >= 1
    assert mesh.cluster_stat("payments", "health_check.success") >= 1
    assert mesh.cluster_stat("payments", "membership_healthy") == 1
    hosts = mesh.host_flags("payments")
    assert hosts["bad"].get("failed_active_health_check") is True, hosts
    assert "failed_active_health_check" not in hosts["good"], hosts


def test_a_host_that_starts_failing_its_health_check_is_taken_out(mesh: Mesh) -> None:
    mesh.upstream("good", service="payments")
    flaky = mesh.upstream("flaky", service="payments")
    mesh.start(
        service("payments", "good", "flaky")
        + PAYMENTS_ROUTE
        + health_policy(HEALTH_CHECK + "  circuitBreaker: {panicThreshold: 0}\n")
    )
    assert mesh.send(20).by_instance == {"good": 10, "flaky": 10}

    flaky.configure(healthy=False)

    def flaky_is_out() -> bool:
        return mesh.send(4).by_instance["flaky"] == 0

    # Twelve intervals: far more than one failed check needs.
    mesh.wait_for(flaky_is_out, 3.0, "the failing host to leave the rotation")


FAILOVER = (
    service("payments", "primary_1", "primary_2")
    + service("payments-fallback", "fallback")
    + PAYMENTS_ROUTE
    + health_policy(HEALTH_CHECK + "  failover: {to: payments-fallback}\n")
)


def test_failover_sends_everything_to_the_fallback_when_every_primary_host_is_down(
    mesh: Mesh,
) -> None:
    primaries = [
        mesh.upstream(name, service="payments", healthy=False)
        for name in ("primary_1", "primary_2")
    ]
    mesh.upstream("fallback", service="payments-fallback")
    mesh.start(FAILOVER, healthy={"payments": 0})

    result = mesh.send(50)

    assert result.by_instance == {"fallback": 50}, result.summary()
    assert result.ok == 50, result.summary()
    assert all(primary.stats().requests == 0 for primary in primaries)
    # The route names the aggregate cluster; the requests are counted on the
    # clusters it chose between.
    assert (mesh.route_action("payments/0/0") or {}).get("cluster") == "payments+failover"
    assert mesh.cluster_stat("payments-fallback", "upstream_rq_total") == 50
    assert mesh.cluster_stat("payments", "upstream_rq_total") == 0
    assert mesh.cluster_stat("payments", "membership_healthy") == 0


def test_failover_takes_a_share_as_soon_as_part_of_the_primary_is_down(mesh: Mesh) -> None:
    # The aggregate cluster treats primary and fallback as priority levels.
    # Envoy's overprovisioning factor of 1.4 keeps all traffic on the primary
    # while at least 1/1.4 = 71 % of its hosts are healthy; with one of two
    # down it is 50 % x 1.4 = 70 % primary and 30 % fallback, although a
    # healthy primary host is there.
    mesh.upstream("primary_1", service="payments")
    down = mesh.upstream("primary_2", service="payments", healthy=False)
    mesh.upstream("fallback", service="payments-fallback")
    mesh.start(FAILOVER, healthy={"payments": 1})

    requests = 500
    result = mesh.send(requests, concurrency=4)

    assert result.ok == requests, result.summary()
    assert down.stats().requests == 0
    fallback_share = result.instance_fraction("fallback")
    # 30 % expected; the binomial standard deviation is 2 points.
    assert 0.22 <= fallback_share <= 0.38, result.summary()
    assert result.by_instance["primary_1"] + result.by_instance["fallback"] == requests
