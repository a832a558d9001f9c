"""The fleet reports back: two real Envoys send their stats and load reports, and the
control plane's metrics and policy status say what each policy is doing, checked
against what the Envoys and the upstreams themselves counted."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from breakwater import cli
from breakwater.devtools.prometheus import metric, metric_sum, metrics_text
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, payments_split, resilience_policy, service

FLUSH = 1.0
"""Seconds between two reports of each Envoy in these tests (5 s by default)."""
REPORTED = FLUSH * 2 + 4
"""How long a number may take to show: a flush, the next one, and slack for a busy machine."""

SUBSETS = payments_split({"stable": 50, "canary": 50})


def fleet_metrics(mesh: Mesh) -> str:
    assert mesh.control_plane is not None
    return metrics_text(mesh.control_plane.admin_url, timeout=5.0)


def fleet_metric(mesh: Mesh, name: str, **labels: str) -> float:
    return metric(fleet_metrics(mesh), name, **labels) or 0.0


def both(mesh: Mesh, stat: Callable[[int], int]) -> int:
    return sum(stat(index) for index in range(len(mesh.envoys)))


def policy_status(mesh: Mesh, name: str) -> dict[str, Any]:
    status: dict[str, Any] = mesh.admin_api("GET", f"/v1/policies/{name}")
    return status


def test_an_open_breaker_shows_as_an_ejected_host_and_closes_after_open_duration(
    mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    mesh.upstream("good", service="payments")
    mesh.upstream("bad", service="payments", fail_fraction=1.0)
    mesh.start(
        service("payments", "good", "bad")
        + PAYMENTS_ROUTE
        + resilience_policy(
            "payments-breaker",
            "  circuitBreaker: {consecutiveErrors: 3, interval: 1s, openDuration: 4s,"
            " panicThreshold: 0}\n",
        ),
        envoys=2,
        report_interval=FLUSH,
    )
    labels = {"service": "payments", "subset": ""}
    assert fleet_metric(mesh, "breakwater_hosts_ejected", **labels) == 0

    mesh.send(60, concurrency=4)
    ejecting = both(
        mesh, lambda i: mesh.cluster_stat("payments", "outlier_detection.ejections_active", i)
    )
    assert ejecting >= 1, "at least one Envoy ejected the failing host"

    mesh.wait_for(
        lambda: fleet_metric(mesh, "breakwater_hosts_ejected", **labels) == 1,
        REPORTED,
        "the ejected host to show in the fleet metrics",
    )
    ejections = both(
        mesh,
        lambda i: mesh.cluster_stat("payments", "outlier_detection.ejections_enforced_total", i),
    )
    mesh.wait_for(
        lambda: fleet_metric(mesh, "breakwater_ejections_total", **labels) == ejections,
        REPORTED,
        "the ejections to add up",
    )
    status = policy_status(mesh, "payments-breaker")
    assert status["proxies"] == {"applied": 2, "pending": 0, "rejected": 0}, status
    (effect,) = status["effect"]
    assert effect["hosts_ejected"] == 1 and effect["hosts"] == 2, effect
    assert effect["proxies_ejecting"] == ejecting, effect

    assert mesh.control_plane is not None
    assert cli.main(["policies", "--server", mesh.control_plane.admin_url]) == 0
    (row,) = [
        line.split() for line in capsys.readouterr().out.splitlines() if "payments-breaker" in line
    ]
    # kind, name, state, applied, ejected, retries/s, 5xx %, p99, services, source
    assert row[:5] == ["ResiliencePolicy", "payments-breaker", "valid", "2/2", "1"], row
    assert cli.main(["policies", "payments-breaker", "--server", mesh.control_plane.admin_url]) == 0
    detail = capsys.readouterr().out
    assert "2 applied, 0 pending, 0 rejected" in detail, detail

    # No traffic meanwhile: the host returns after openDuration and the gauge follows.
    mesh.wait_for(
        lambda: fleet_metric(mesh, "breakwater_hosts_ejected", **labels) == 0,
        4.0 + 1.0 + REPORTED,
        "the breaker to close again",
    )


def test_retries_of_the_fleet_equal_the_sum_of_the_envoys_own_counters(mesh: Mesh) -> None:
    mesh.upstream("flaky", service="payments", fail_fraction=0.3, seed=7)
    mesh.start(
        service("payments", "flaky")
        + PAYMENTS_ROUTE
        + resilience_policy("payments-retry", "  retry: {attempts: 3}\n"),
        envoys=2,
        report_interval=FLUSH,
    )

    # Six connections, so that both Envoys take some. Envoy allows three retries in
    # flight per cluster: the ones over it are not made (and not counted as retries).
    result = mesh.send(300, concurrency=6)
    assert result.by_status[200] > 200, result.summary()
    per_envoy = [mesh.cluster_stat("payments", "upstream_rq_retry", i) for i in range(2)]
    assert all(count > 0 for count in per_envoy), f"traffic reached both Envoys: {per_envoy}"

    mesh.wait_for(
        lambda: (
            fleet_metric(mesh, "breakwater_retries_total", service="payments", subset="")
            == sum(per_envoy)
        ),
        REPORTED,
        f"breakwater_retries_total to equal the Envoys' {per_envoy}",
    )
    status = policy_status(mesh, "payments-retry")
    assert status["route_configs"] == ["edge"], status
    assert status["proxies"]["applied"] == 2, status


def test_bulkhead_rejections_equal_the_envoys_overflow_counters(mesh: Mesh) -> None:
    mesh.upstream("slow", service="payments", latency=0.5)
    mesh.start(
        service("payments", "slow")
        + PAYMENTS_ROUTE
        + resilience_policy(
            "payments-bulkhead",
            "  bulkhead: {maxConcurrentRequests: 2, maxQueuedRequests: 1, maxConnections: 2}\n",
        ),
        envoys=2,
        report_interval=FLUSH,
    )

    result = mesh.send(40, concurrency=20)
    assert result.by_status[503] > 0, result.summary()

    def overflow(index: int) -> int:
        return mesh.cluster_stat(
            "payments", "upstream_rq_active_overflow", index
        ) + mesh.cluster_stat("payments", "upstream_rq_pending_overflow", index)

    refused = both(mesh, overflow)
    assert refused > 0
    mesh.wait_for(
        lambda: (
            fleet_metric(
                mesh, "breakwater_bulkhead_rejections_total", service="payments", subset=""
            )
            == refused
        ),
        REPORTED,
        f"breakwater_bulkhead_rejections_total to equal the Envoys' {refused}",
    )
    (effect,) = policy_status(mesh, "payments-bulkhead")["effect"]
    assert effect["concurrency_limit"] == 2
    assert effect["bulkhead_rejections_total"] == refused


def test_success_rate_and_latency_per_subset_match_what_the_upstreams_saw(mesh: Mesh) -> None:
    stable = mesh.upstream("stable", service="payments", subset="stable", latency=0.05)
    canary = mesh.upstream(
        "canary", service="payments", subset="canary", fail_fraction=0.3, seed=3, latency=0.2
    )
    mesh.start(
        SUBSETS + resilience_policy("payments-defaults", "  timeout: {request: 3s}\n"),
        envoys=2,
        report_interval=FLUSH,
    )

    mesh.send(400, concurrency=8)
    counted = canary.stats()
    served_ok = counted.status(200)
    upstream_rate = 100.0 * served_ok / counted.requests

    def fleet_requests(subset: str) -> float:
        return metric_sum(
            fleet_metrics(mesh),
            "breakwater_upstream_requests_total",
            service="payments",
            subset=subset,
        )

    mesh.wait_for(
        lambda: (
            fleet_requests("canary") == counted.requests
            and fleet_requests("stable") == stable.stats().requests
        ),
        REPORTED,
        "every response to be reported",
    )
    ok = fleet_metric(
        mesh,
        "breakwater_upstream_requests_total",
        service="payments",
        subset="canary",
        code_class="2xx",
    )
    assert abs(100.0 * ok / counted.requests - upstream_rate) <= 1.0

    effects = {e["subset"]: e for e in policy_status(mesh, "payments-defaults")["effect"]}
    canary_effect = effects["canary"]
    assert canary_effect["error_percent"] is not None
    assert abs((100.0 - canary_effect["error_percent"]) - upstream_rate) <= 1.0, canary_effect
    # The upstream sleeps 200 ms; a busy machine can only add to that, and Envoy's
    # histogram buckets (100, 250, 500 ms) leave the p99 anywhere between 200 and 250, or,
    # once more than 1 % of the answers were slowed past 250 ms, in the next bucket (the
    # stable subset's 50 ms would land below 100).
    assert 0.2 * 1000 * 0.8 <= canary_effect["p99_ms"] <= 500, canary_effect
    assert effects["stable"]["error_percent"] == 0.0, effects["stable"]

    # The load reports count per endpoint. Envoy starts counting for LRS only once its
    # load-report stream is answered, so requests sent right after start may be missing;
    # what is counted has the canary's failure share.
    def endpoint_load() -> dict[str, Any]:
        effect = policy_status(mesh, "payments-defaults")["effect"]
        (canary_load,) = next(e for e in effect if e["subset"] == "canary")["endpoints"]
        done = canary_load["succeeded"] + canary_load["failed"]
        return canary_load if done >= counted.requests // 2 else {}

    load = mesh.wait_for(endpoint_load, REPORTED, "the load reports of the canary endpoint")
    assert load["address"] == f"127.0.0.1:{canary.port}"
    reported_rate = 100.0 * load["succeeded"] / (load["succeeded"] + load["failed"])
    assert abs(reported_rate - upstream_rate) <= 10.0, (load, upstream_rate)


def test_a_proxy_that_rejects_a_policy_shows_it_rejected_with_envoys_message(
    mesh: Mesh,
) -> None:
    mesh.upstream("stable", service="payments", subset="stable")
    mesh.upstream("canary", service="payments", subset="canary")
    mesh.upstream("backup", service="backup")

    mesh.start(
        SUBSETS
        + resilience_policy(
            "payments-stable-breaker", "  circuitBreaker: {consecutiveErrors: 5}\n"
        ).replace("{name: payments}", "{name: payments, subset: stable}")
        + service("backup", "backup")
        + resilience_policy("payments-canary-failover", "  failover: {to: backup}\n").replace(
            "{name: payments}", "{name: payments, subset: canary}"
        ),
        envoys=2,
        report_interval=FLUSH,
        # The second Envoy runs without aggregate clusters (as a build without them
        # would): it refuses the failover cluster of this one policy.
        envoy_args={1: ["--disable-extensions", "envoy.clusters/envoy.clusters.aggregate"]},
        ready=[0],
    )

    def rejected() -> dict[str, Any]:
        status = policy_status(mesh, "payments-canary-failover")
        return status if status["proxies"]["rejected"] == 1 else {}

    try:
        status: dict[str, Any] = mesh.wait_for(
            rejected, 10.0, "the canary policy to show as rejected"
        )
    except AssertionError:
        print(mesh.admin_api("GET", "/v1/status"))
        print(policy_status(mesh, "payments-canary-failover"))
        raise
    assert status["proxies"] == {"applied": 1, "pending": 0, "rejected": 1}, status
    (rejection,) = status["rejections"]
    assert rejection["node_id"] == mesh.node_id(1)
    assert "payments|canary+failover" in rejection["message"], rejection
    stable = policy_status(mesh, "payments-stable-breaker")
    assert stable["proxies"]["applied"] == 2, stable
    text = fleet_metrics(mesh)
    assert (
        metric(
            text, "breakwater_policy_proxies", policy="payments-canary-failover", state="rejected"
        )
        == 1
    )
    assert (
        metric(text, "breakwater_policy_proxies", policy="payments-stable-breaker", state="applied")
        == 2
    )


def test_restarting_an_envoy_never_makes_a_fleet_counter_go_backwards(mesh: Mesh) -> None:
    mesh.upstream("flaky", service="payments", fail_fraction=0.2, seed=11)
    mesh.start(
        service("payments", "flaky")
        + PAYMENTS_ROUTE
        + resilience_policy("payments-retry", "  retry: {attempts: 2}\n"),
        envoys=2,
        report_interval=FLUSH,
    )
    labels = {"service": "payments", "subset": ""}
    names = ("breakwater_retries_total", "breakwater_upstream_requests_total")

    def sample() -> dict[str, float]:
        text = fleet_metrics(mesh)
        return {
            "retries": metric(text, names[0], **labels) or 0.0,
            "ok": metric(text, names[1], code_class="2xx", **labels) or 0.0,
        }

    samples = []
    mesh.send(150, concurrency=4)
    mesh.wait_for(lambda: sample()["ok"] > 0, REPORTED, "the first reports")
    samples.append(sample())
    mesh.restart_envoy(1)
    mesh.wait_ready(1)
    for _ in range(3):
        mesh.send(100, concurrency=4)
        samples.append(sample())
    mesh.wait_for(
        lambda: sample()["ok"] > samples[-1]["ok"] or sample()["ok"] >= 400,
        REPORTED,
        "later reports",
    )
    samples.append(sample())

    for before, after in itertools.pairwise(samples):
        for key in before:
            assert after[key] >= before[key], samples
    assert samples[-1]["ok"] > samples[0]["ok"], samples
