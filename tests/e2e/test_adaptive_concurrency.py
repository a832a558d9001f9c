"""`bulkhead.adaptive` against the guide's fixed pool of 5, on an upstream that saturates.

The upstream serves 10 requests at once at full speed (100 ms each, so about
100 a second); past that its latency grows with its concurrency. The load is
150 requests a second, open loop: more than it can take. The guide's pool
of 5 either sheds what the service could have served (no queue) or lets
latency run away (its queue of 100); the adaptive limit finds the service's
own capacity and keeps latency near the unloaded one. The figures are in
`bench/adaptive.py`; this test asserts only what holds on a busy machine.
"""

from __future__ import annotations

from breakwater.devtools.traffic.saturation import Outcome, offer
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

LATENCY = 0.1
CAPACITY = 10
RATE = 150.0
WARMUP = 2.0
DURATION = 3.0

SHEDDING = "  bulkhead: {maxConcurrentRequests: 5}\n"
# Envoy refuses requests past maxConcurrentRequests at once; a Hystrix pool
# with a queue is 5 upstream connections (HTTP/1: one request each) and
# requests waiting for one.
QUEUEING = "  bulkhead: {maxConnections: 5, maxQueuedRequests: 100}\n"
ADAPTIVE = """\
  bulkhead:
    adaptive: {minLimit: 5, maxLimit: 200, sampleWindow: 200ms, minRttRequests: 20}
"""
GRADIENT = "http.edge.adaptive_concurrency.gradient_controller."


def policies(bulkhead: str) -> str:
    return (
        service("payments", "only")
        + PAYMENTS_ROUTE
        + resilience_policy("payments-bulkhead", bulkhead)
    )


def _thresholds(mesh: Mesh) -> dict[str, object]:
    cluster = mesh.cluster_config("payments") or {}
    thresholds: list[dict[str, object]] = cluster.get("circuit_breakers", {}).get("thresholds", [])
    return thresholds[0] if thresholds else {}


def load(mesh: Mesh) -> Outcome:
    return offer(mesh.url, RATE, warmup=WARMUP, duration=DURATION)


def test_the_adaptive_limit_serves_more_than_the_guides_pool_and_keeps_latency_near_unloaded(
    mesh: Mesh,
) -> None:
    mesh.upstream("only", service="payments", latency=LATENCY, capacity=CAPACITY)
    mesh.start(policies(SHEDDING))
    unloaded = offer(mesh.url, 10.0, warmup=0.2, duration=1.0)
    shedding = load(mesh)

    mesh.write_policies(policies(QUEUEING))
    mesh.wait_for(lambda: _thresholds(mesh).get("max_connections") == 5, 5.0, "the queue")
    queueing = load(mesh)

    mesh.write_policies(policies(ADAPTIVE))
    mesh.wait_for(lambda: f"{GRADIENT}concurrency_limit" in mesh.stats(), 5.0, "the filter")
    adaptive = load(mesh)
    stats = mesh.stats()

    report = "\n".join(
        f"{name}: {o.summary()}"
        for name, o in [
            ("unloaded", unloaded),
            ("pool 5", shedding),
            ("pool 5 queue 100", queueing),
            ("adaptive", adaptive),
        ]
    )
    # The pool of 5 without a queue serves at most 5 / 100 ms = 50 a second
    # and sheds the rest, though the service could serve twice that.
    assert shedding.served < 60, report
    # With the guide's queue it serves no more, and requests wait their turn.
    assert queueing.served < 60, report
    assert queueing.p99 > 5 * unloaded.p50, report
    # The adaptive limit serves clearly more than either, near the
    # service's capacity, and its answers come close to unloaded speed.
    assert adaptive.served > 1.3 * max(shedding.served, queueing.served), report
    assert adaptive.p99 < 4 * unloaded.p50, report
    assert adaptive.p99 < queueing.p99 / 3, report
    # Envoy's own account: the limit grew past the guide's 5 and refused the rest.
    assert stats[f"{GRADIENT}rq_blocked"] > 0, report
    assert stats[f"{GRADIENT}concurrency_limit"] > 5, report
    assert stats[f"{GRADIENT}min_rtt_msecs"] >= LATENCY * 1000 * 0.9, report
    assert mesh.cluster_stat("payments", "upstream_rq_pending_overflow") > 0, report
