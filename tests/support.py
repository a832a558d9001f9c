"""Pieces several test suites share: a policy directory read as `serve` reads it, the
`payments` Service with stable and canary subsets, a real Envoy of node cluster `edge`,
and readings from the admin API.

Every process started here is stopped by whoever started it.
"""

from __future__ import annotations

import re
from pathlib import Path

from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.controlplane.state.sources import load_policy_files
from breakwater.devtools.adminclient import http
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_port
from breakwater.translators.errors import PolicyError
from breakwater.translators.policyset import PolicySet

ROUTE = "payments"
GATEWAY = "edge"
NODE_CLUSTER = "edge"
DELTA_NODE_CLUSTER = "edge-delta"


def load_policy_dir(path: Path) -> tuple[PolicySet | None, list[PolicyError]]:
    """A policy directory (or file) as `serve` reads it: the policy sources, then the pipeline."""
    _, loaded = load_policy_files(path)
    return loaded.policyset, loaded.errors


PAYMENTS_SERVICE_YAML = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  protocol: http
  endpoints:
    - {{address: 127.0.0.1, port: {stable_port}, labels: {{version: stable}}}}
    - {{address: 127.0.0.1, port: {canary_port}, labels: {{version: canary}}}}
  subsets:
    - {{name: stable, labels: {{version: stable}}}}
    - {{name: canary, labels: {{version: canary}}}}
"""


def payments_service(stable_port: int, canary_port: int) -> str:
    """Service `payments`: one endpoint per subset (`stable`, `canary`) on these ports."""
    return PAYMENTS_SERVICE_YAML.format(stable_port=stable_port, canary_port=canary_port)


GATEWAY_YAML = """\
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata:
  name: {name}
spec:
  address: {address}
  port: {port}
  nodeSelector:
    cluster: {cluster}
"""


def gateway(port: int, name: str = GATEWAY, cluster: str | None = None) -> str:
    """Gateway `name` on loopback `port`, for proxies of node cluster `cluster` (its name)."""
    return GATEWAY_YAML.format(name=name, address=LOOPBACK, port=port, cluster=cluster or name)


# --- the admin API ------------------------------------------------------------------------

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)"
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format (None when absent)."""
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        found = dict(_LABEL.findall(match["labels"] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match["value"])
    return None


def proxy_synced(admin_url: str, node_id: str) -> bool:
    """Whether the control plane reports proxy `node_id` as synced on every type."""
    reply = http("GET", f"{admin_url}/v1/status", timeout=2.0)
    return reply.status == 200 and any(
        p["node_id"] == node_id and p["synced"] for p in reply.body["proxies"]
    )


# --- a real Envoy -------------------------------------------------------------------------


def envoy_for(
    xds_port: int, node_id: str, workdir: Path | None = None, *, delta: bool = False
) -> EnvoyProcess:
    """An Envoy of node cluster `edge` over State of the World, or `edge-delta` over Delta."""
    bootstrap = render_bootstrap(
        node_id=node_id,
        node_cluster=DELTA_NODE_CLUSTER if delta else NODE_CLUSTER,
        xds_addresses=[(LOOPBACK, xds_port)],
        admin_port=free_port(),
        delta=delta,
    )
    return EnvoyProcess(bootstrap, log_level="warning", workdir=workdir)


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
