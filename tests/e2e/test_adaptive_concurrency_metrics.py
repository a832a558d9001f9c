"""`/metrics` for `bulkhead.adaptive`, checked against what two real Envoys counted.

While the filter measures its minimum round-trip time it holds the limit at
`minLimit` (2 here), so 8 concurrent clients get some requests blocked (503)
at once. The control plane's `breakwater_adaptive_concurrency_blocked_total`
(from the Envoys' stats sinks) must equal the sum of both Envoys' own
`rq_blocked`, and `breakwater_adaptive_concurrency_limit` the smaller of
their `concurrency_limit` gauges.
"""

from __future__ import annotations

from breakwater.devtools.prometheus import metric, metrics_text
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

FLUSH = 1.0
REPORTED = FLUSH * 2 + 4
"""How long a number may take to reach `/metrics`: a flush, the next, and slack."""
ADAPTIVE = """\
  bulkhead:
    adaptive: {minLimit: 2, maxLimit: 50, sampleWindow: 200ms, minRttRequests: 50}
"""
GRADIENT = "http.edge.adaptive_concurrency.gradient_controller."


def _reported(mesh: Mesh, name: str) -> float | None:
    assert mesh.control_plane is not None
    return metric(metrics_text(mesh.control_plane.admin_url, timeout=5.0), name, gateway="edge")


def test_blocked_requests_and_the_limit_in_metrics_equal_the_envoys_own(mesh: Mesh) -> None:
    mesh.upstream("only", service="payments", latency=0.05)
    mesh.start(
        service("payments", "only")
        + PAYMENTS_ROUTE
        + resilience_policy("payments-adaptive", ADAPTIVE),
        envoys=2,
        report_interval=FLUSH,
    )
    mesh.wait_for(
        lambda: all(f"{GRADIENT}concurrency_limit" in mesh.stats(i) for i in (0, 1)),
        10.0,
        "both Envoys to run the filter",
    )
    result = mesh.send(120, concurrency=8)
    assert result.by_status[503] > 0, result.summary()

    def blocked() -> int:
        return sum(mesh.stats(i).get(f"{GRADIENT}rq_blocked", 0) for i in (0, 1))

    def limit() -> int:
        return min(mesh.stats(i)[f"{GRADIENT}concurrency_limit"] for i in (0, 1))

    assert blocked() > 0
    mesh.wait_for(
        lambda: _reported(mesh, "breakwater_adaptive_concurrency_blocked_total") == blocked(),
        REPORTED,
        "the blocked requests in /metrics to equal the Envoys' rq_blocked",
    )
    mesh.wait_for(
        lambda: _reported(mesh, "breakwater_adaptive_concurrency_limit") == limit(),
        REPORTED,
        "the limit in /metrics to equal the smaller Envoy's concurrency_limit",
    )
