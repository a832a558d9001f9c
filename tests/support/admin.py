"""Readings and writes of the admin API that tests of several packages repeat."""

from __future__ import annotations

from collections.abc import Mapping

from breakwater.client import Reply, http, path_of
from tests.support.policies import ROUTE


def weights_url(admin_url: str, route: str = ROUTE) -> str:
    """The weights of a route, at the path the operations table gives them."""
    return admin_url + path_of("get_weights", {"route": route})[1]


def put_weights(
    admin_url: str,
    weights: Mapping[str, int],
    *,
    route: str = ROUTE,
    timeout: float = 5.0,
) -> Reply:
    """`PUT` an override of the route's default rule; the answer, whatever its status."""
    return http("PUT", weights_url(admin_url, route), {"weights": dict(weights)}, timeout=timeout)


def proxy_synced(admin_url: str, node_id: str) -> bool:
    """Whether the control plane reports proxy `node_id` as synced on every type."""
    reply = http("GET", f"{admin_url}/v1/status", timeout=2.0)
    return reply.status == 200 and any(
        p["node_id"] == node_id and p["synced"] for p in reply.body["proxies"]
    )
