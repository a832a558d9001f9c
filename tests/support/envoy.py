"""A real Envoy pointed at a control plane on loopback, and what it holds.

Every Envoy a test starts gets its configuration the production way: the bootstrap
`breakwater bootstrap` would write, then everything else over ADS.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_port
from tests.support.policies import DELTA_NODE_CLUSTER, GATEWAY, NODE_CLUSTER, ROUTE


def envoy_for(
    xds_ports: int | Sequence[int],
    node_id: str,
    workdir: Path | None = None,
    *,
    cluster: str | None = None,
    delta: bool = False,
    log_level: str = "warning",
    extra_args: Sequence[str] = (),
    **bootstrap: Any,
) -> EnvoyProcess:
    """An Envoy (not started) of node `node_id` fetching from the xDS ports on loopback.

    Its node cluster is `cluster`, else `edge` over State of the World and
    `edge-delta` over Delta, the node clusters of the shared policies' gateways.
    Several ports make an `xds_cluster` of several control planes, tried in order.
    `bootstrap` holds further options of `render_bootstrap` (timeouts, flush interval).
    """
    ports = [xds_ports] if isinstance(xds_ports, int) else list(xds_ports)
    rendered = render_bootstrap(
        node_id,
        cluster or (DELTA_NODE_CLUSTER if delta else NODE_CLUSTER),
        [(LOOPBACK, port) for port in ports],
        free_port(),
        delta,
        **bootstrap,
    )
    return EnvoyProcess(rendered, log_level=log_level, workdir=workdir, extra_args=extra_args)


def envoy_route_weights(
    envoy: EnvoyProcess, gateway: str = GATEWAY, route_name: str = ROUTE
) -> dict[str, int]:
    """The weighted clusters of an HTTPRoute (a virtual host) as Envoy holds them now."""
    for config in envoy.config_dump("dynamic_route_configs")["configs"]:
        route_config = config.get("route_config", {})
        if route_config.get("name") != gateway:
            continue
        for host in route_config.get("virtual_hosts", []):
            if host.get("name") != route_name:
                continue
            for route in host.get("routes", []):
                clusters = route.get("route", {}).get("weighted_clusters", {}).get("clusters", [])
                if clusters:
                    return {c["name"]: int(c.get("weight", 0)) for c in clusters}
    return {}
