"""The policies most tests run on, and a policy directory read as `serve` reads it.

Service `payments` has one endpoint per subset (`stable`, `canary`); each Gateway
listens on loopback for the proxies of the node cluster of its own name; each
HTTPRoute splits every path between the two subsets. Tests that shift traffic,
count ACKs or break the files all start from these documents, so one builder makes
them all.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from breakwater.controlplane.state.sources import load_policy_files
from breakwater.devtools.ports import LOOPBACK, free_ports
from breakwater.translators.errors import PolicyError
from breakwater.translators.policyset import PolicySet

ROUTE = "payments"
GATEWAY = "edge"
NODE_CLUSTER = "edge"
DELTA_NODE_CLUSTER = "edge-delta"
STABLE = "payments|stable"
CANARY = "payments|canary"
"""The clusters of the two subsets, as Envoy names them."""


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


def payments_service(stable_port: int | str, canary_port: int | str) -> str:
    """Service `payments`: one endpoint per subset (`stable`, `canary`) on these ports.

    A port may be a placeholder such as `$stable` for text that is filled in later.
    """
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


def gateway(port: int, name: str = GATEWAY, cluster: str | None = None, spec: str = "") -> str:
    """Gateway `name` on loopback `port`, for proxies of node cluster `cluster` (its name).

    `spec` is more of the Gateway's spec (e.g. a `rateLimit`), indented two spaces.
    """
    text = GATEWAY_YAML.format(name=name, address=LOOPBACK, port=port, cluster=cluster or name)
    return text + spec


def rollout_document(steps: str, analysis: str = "") -> str:
    """Rollout `payments` of the `split` rule of HTTPRoute payments (stable to canary), with
    these steps (YAML list items, indented four spaces) and an optional `analysis:` block
    (indented two)."""
    return (
        "---\napiVersion: breakwater.dev/v1alpha1\nkind: Rollout\nmetadata: {name: payments}\n"
        "spec:\n  routeRef: {name: payments, rule: split}\n  stable: stable\n  canary: canary\n"
        "  steps:\n" + steps + analysis
    )


SPLIT_ROUTE_YAML = """\
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  gateways: [{gateways}]
  hostnames: [{hostnames}]
  rules:
    - name: split
      matches:
        - path: {{prefix: /}}
      backends:
{backends}"""


@dataclass(frozen=True)
class SplitRoute:
    """HTTPRoute `name` on `gateways`: its one rule, `split`, sends every path on
    `hostnames` to payments' subsets by `weights` (subset → weight, in that order)."""

    name: str = ROUTE
    gateways: tuple[str, ...] = (GATEWAY,)
    hostnames: tuple[str, ...] = ("*",)
    weights: Mapping[str, int] = field(default_factory=lambda: {"stable": 90, "canary": 10})

    def yaml(self) -> str:
        """The document. The rule's backends start on its line 12, one a line, so that a
        test can tell which line an error names."""
        backends = "".join(
            f"        - {{service: payments, subset: {subset}, weight: {weight}}}\n"
            for subset, weight in self.weights.items()
        )
        return SPLIT_ROUTE_YAML.format(
            name=self.name,
            gateways=", ".join(self.gateways),
            hostnames=", ".join(json.dumps(host) for host in self.hostnames),
            backends=backends,
        )


@dataclass(frozen=True)
class PolicyDir:
    """Service `payments`, its Gateways and split HTTPRoutes, one kind per file.

    The routes have a file of their own so that a test can rewrite them alone: a
    reload then reads one changed file, and errors name `routes.yaml` and a line of it.
    """

    path: Path
    stable_port: int
    canary_port: int
    gateway_ports: Mapping[str, int]
    """Gateway name → its listener port."""
    routes: tuple[SplitRoute, ...] = (SplitRoute(),)

    @classmethod
    def create(
        cls,
        path: Path,
        stable_port: int | None = None,
        canary_port: int | None = None,
        *,
        gateways: Sequence[str] = (GATEWAY,),
        routes: Sequence[SplitRoute] = (SplitRoute(),),
    ) -> PolicyDir:
        """Written at once. Upstream ports left out are free ones nobody listens on, enough
        for everything that sends no traffic; every gateway gets a free port."""
        ports = iter(free_ports(len(gateways) + 2))
        policies = cls(
            path,
            stable_port=stable_port if stable_port is not None else next(ports),
            canary_port=canary_port if canary_port is not None else next(ports),
            gateway_ports={name: next(ports) for name in gateways},
            routes=tuple(routes),
        )
        policies.write()
        return policies

    @property
    def services_file(self) -> Path:
        return self.path / "services.yaml"

    @property
    def gateways_file(self) -> Path:
        return self.path / "gateways.yaml"

    @property
    def routes_file(self) -> Path:
        return self.path / "routes.yaml"

    def url(self, gateway: str = GATEWAY) -> str:
        """The gateway's listener, where traffic through the proxies of its node cluster goes."""
        return f"http://{LOOPBACK}:{self.gateway_ports[gateway]}"

    def write(self) -> None:
        """Every file as declared (again)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.replace(self.services_file, payments_service(self.stable_port, self.canary_port))
        self.replace(
            self.gateways_file,
            "---\n".join(gateway(port, name) for name, port in self.gateway_ports.items()),
        )
        self.replace(self.routes_file, "---\n".join(route.yaml() for route in self.routes))

    def write_weights(self, weights: Mapping[str, int], route: str = ROUTE) -> None:
        """Rewrite the routes file with other weights (any, even invalid ones) for one
        route; `write` brings back the declared ones."""
        routes = [
            dataclasses.replace(r, weights=weights) if r.name == route else r for r in self.routes
        ]
        self.replace(self.routes_file, "---\n".join(r.yaml() for r in routes))

    def replace(self, file: Path, text: str) -> None:
        """Write a file whole (temp file and rename), so the watcher never sees half of it."""
        temporary = file.with_name(f".{file.name}.tmp")
        temporary.write_text(text)
        os.replace(temporary, file)
