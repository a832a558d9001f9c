"""`circuitBreaker.scope: service` through a real Envoy: when the service's success rate falls
under the threshold Envoy rejects a share of requests itself, and stops once it recovers."""

from __future__ import annotations

import time

from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

WINDOW = 2.0
BREAKER = f"""\
  circuitBreaker:
    scope: service
    successRateThreshold: 95
    window: {WINDOW:g}s
"""


def _rejected(mesh: Mesh) -> int:
    """Requests the gateway's admission control answered itself (all its levels together)."""
    stats = mesh.stats()
    return sum(v for k, v in stats.items() if k.endswith("admission_control.rq_rejected"))


def test_a_failing_service_is_shed_locally_and_recovers(mesh: Mesh) -> None:
    upstream = mesh.upstream("pay", service="payments", seed=7)
    mesh.start(service("payments", "pay") + PAYMENTS_ROUTE + resilience_policy("breaker", BREAKER))

    healthy = mesh.send(300, concurrency=6)
    assert healthy.ok == 300, healthy.summary()
    assert _rejected(mesh) == 0

    upstream.configure(fail_fraction=0.6)
    time.sleep(WINDOW)  # the window still holds healthy history; let it fill with failures
    upstream.reset_stats()
    before = _rejected(mesh)
    failing = mesh.send(1000, concurrency=6)
    rejected = _rejected(mesh) - before
    reached = upstream.stats().requests
    print(
        f"upstream failing 60 %: of {failing.total} requests Envoy rejected {rejected} itself, "
        f"the upstream saw {reached}; {failing.ok} succeeded"
    )
    assert rejected + reached == failing.total
    assert rejected > 0.3 * failing.total, rejected
    assert reached < 0.7 * failing.total, reached

    upstream.configure(fail_fraction=0.0)
    with mesh.continuous(rate=100, max_duration=20.0) as traffic:
        time.sleep(WINDOW * 2)  # healthy answers replace the failures in the window
        traffic.stop()
    upstream.reset_stats()
    before = _rejected(mesh)
    recovered = mesh.send(500, concurrency=6)
    print(
        f"recovered: {recovered.ok} of {recovered.total} succeeded, "
        f"{_rejected(mesh) - before} rejected"
    )
    assert recovered.ok == 500, recovered.summary()
    assert _rejected(mesh) == before
    assert upstream.stats().requests == 500
