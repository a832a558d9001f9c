"""Local rate limits through a real Envoy: 429s in the expected number, counted by Envoy itself.

Limits are per hour here so that the bucket refills by a negligible
fraction of a token while a test runs: what passes is exactly the burst.
"""

from __future__ import annotations

from tests.e2e.mesh import Mesh, service

RETRY_AFTER = "retry-after"
WATCHED = (RETRY_AFTER,)


def limited(stats: dict[str, int], prefix: str) -> tuple[int, int]:
    """(let through, refused) as Envoy counted them under one rate limit's stat prefix."""
    return (
        stats.get(f"{prefix}.http_local_rate_limit.ok", 0),
        stats.get(f"{prefix}.http_local_rate_limit.rate_limited", 0),
    )


def test_a_burst_over_a_rule_limit_gets_the_expected_number_of_429s(mesh: Mesh) -> None:
    only = mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only")
        + """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: payments}]
      rateLimit: {requests: 10, per: 1h}
"""
    )

    result = mesh.send(50, concurrency=50, watch_headers=WATCHED)

    print(
        f"50 at once against 10 per hour: {result.by_status[200]} served, {result.by_status[429]} refused"
    )
    assert result.by_status == {200: 10, 429: 40}, result.summary()
    refused = [r for r in result.records if r.status == 429]
    # One token comes back every 3600 s / 10.
    assert {r.headers.get(RETRY_AFTER) for r in refused} == {"360"}
    assert only.stats().requests == 10
    assert limited(mesh.stats(), "ratelimit.rule.payments.0") == (10, 40)


def test_the_most_specific_limit_wins_and_limits_do_not_add_up(mesh: Mesh) -> None:
    mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only")
        + """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  hostnames: [payments.example]
  rateLimit: {requests: 8, per: 1h}
  rules:
    - matches: [{path: {prefix: /refunds}}]
      backends: [{service: payments}]
      rateLimit: {requests: 20, per: 1h}
    - backends: [{service: payments}]
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: other}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: payments}]
""",
        gateway_spec="  rateLimit: {requests: 5, per: 1h}\n",
    )
    payments = {"host": "payments.example"}

    refunds = mesh.send(30, concurrency=30, path="/refunds", headers=payments)
    rest = mesh.send(30, concurrency=30, path="/charges", headers=payments)
    other = mesh.send(30, concurrency=30, headers={"host": "other.example"})

    print(
        f"30 each: rule {refunds.ok} served, route {rest.ok}, gateway {other.ok} (limits 20, 8, 5)"
    )
    assert (refunds.ok, refunds.by_status[429]) == (20, 10), refunds.summary()
    assert (rest.ok, rest.by_status[429]) == (8, 22), rest.summary()
    assert (other.ok, other.by_status[429]) == (5, 25), other.summary()
    stats = mesh.stats()
    assert limited(stats, "ratelimit.rule.payments.0") == (20, 10)
    assert limited(stats, "ratelimit.route.payments") == (8, 22)
    assert limited(stats, "ratelimit.gateway.edge") == (5, 25)
