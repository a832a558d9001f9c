"""Mirroring through a real Envoy: half the requests copied to a shadow the client never hears.

The shadow fails every request, slowly; the client still sees only the
primary's quick answers. Envoy sends the copies fire-and-forget, so the
test waits for the last of them to arrive before counting.
"""

from __future__ import annotations

from tests.e2e.mesh import Mesh, service

REQUESTS = 1_000
MIRROR_PERCENT = 50
TOLERANCE = 0.05
"""±5 % of the requests: over 3 standard deviations of a 50 % draw over 1 000 requests."""

SHADOW_LATENCY = 0.5


def test_half_the_requests_reach_the_mirror_and_the_client_sees_only_the_primary(
    mesh: Mesh,
) -> None:
    primary = mesh.upstream("primary", service="payments")
    shadow = mesh.upstream(
        "shadow",
        service="payments-next",
        fail_fraction=1.0,
        fail_status=500,
        latency=SHADOW_LATENCY,
    )
    mesh.start(
        service("payments", "primary")
        + service("payments-next", "shadow")
        + f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge]
  hostnames: [payments.example]
  rules:
    - backends: [{{service: payments}}]
      mirror: {{service: payments-next, percent: {MIRROR_PERCENT}}}
"""
    )

    result = mesh.send(REQUESTS, concurrency=10, headers={"host": "payments.example"})

    counted: list[int] = []

    def copies_settled() -> bool:
        """Nothing in flight at the shadow, and nothing new since the last look."""
        stats = shadow.stats()
        counted.append(stats.requests)
        return stats.in_flight == 0 and counted[-2:] == [stats.requests] * 2

    mesh.wait_for(copies_settled, 10.0, "the mirrored copies to be answered", interval=0.3)
    mirrored = shadow.stats().requests
    share = mirrored / REQUESTS
    print(
        f"mirrored {mirrored} of {REQUESTS} ({share:.1%}, asked "
        f"{MIRROR_PERCENT} %); client p99 {result.latency_percentile(99) * 1000:.0f}ms"
    )
    assert abs(share - MIRROR_PERCENT / 100) <= TOLERANCE, share
    # The shadow answered every copy with 500, slowly; the client heard none of it.
    assert shadow.stats().status(500) == mirrored
    assert result.by_status == {200: REQUESTS}, result.summary()
    assert result.by_instance == {"primary": REQUESTS}, result.summary()
    assert primary.stats().requests == REQUESTS
    # Fire and forget: the shadow's half second never held a client.
    assert result.latency_percentile(99) < SHADOW_LATENCY, result.summary()
    # Envoy marks the copies: the shadow sees the host with `-shadow`.
    assert {r.headers["host"] for r in shadow.seen()} == {"payments.example-shadow"}
