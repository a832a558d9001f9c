"""The policies of the hardening tests: two gateways, one per xDS protocol, and two routes."""

from __future__ import annotations

from pathlib import Path

from tests.support.policies import GATEWAY, PolicyDir, SplitRoute

DELTA_GATEWAY = "edge-delta"
CHECKOUT = SplitRoute(
    name="checkout", hostnames=("checkout.example",), weights={"stable": 50, "canary": 50}
)
ROUTES = ("payments", "checkout")


def hardening_policies(path: Path, stable_port: int, canary_port: int) -> PolicyDir:
    """Gateway `edge` for proxies of node cluster `edge`, `edge-delta` for those of
    `edge-delta`; HTTPRoute `payments` splits 90/10 on both, HTTPRoute `checkout` (host
    checkout.example) 50/50 on `edge`, so writes to two routes can race."""
    return PolicyDir.create(
        path,
        stable_port,
        canary_port,
        gateways=(GATEWAY, DELTA_GATEWAY),
        routes=(SplitRoute(gateways=(GATEWAY, DELTA_GATEWAY)), CHECKOUT),
    )
