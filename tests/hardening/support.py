"""Pieces the hardening tests share: a policy directory with two gateways and two routes,
weight writes, metrics and memory readings.

`breakwater serve` as a process (optionally under lowered resource limits) is
`breakwater.devtools.serve.ServeProcess`; a real Envoy comes from `tests.support`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from breakwater.devtools.adminclient import Reply, http
from breakwater.devtools.ports import LOOPBACK, free_ports
from tests.support import ROUTE, gateway, payments_service
from tests.support import metric as prometheus_sample

STABLE = "payments|stable"
CANARY = "payments|canary"

ROUTES = ("payments", "checkout")
DELTA_GATEWAY = "edge-delta"

ROUTES_YAML = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge, edge-delta]
  hostnames: ["*"]
  rules:
    - name: split
      matches:
        - path: {prefix: /}
      backends:
        - {service: payments, subset: stable, weight: 90}
        - {service: payments, subset: canary, weight: 10}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: checkout}
spec:
  gateways: [edge]
  hostnames: ["checkout.example"]
  rules:
    - name: split
      matches:
        - path: {prefix: /}
      backends:
        - {service: payments, subset: stable, weight: 50}
        - {service: payments, subset: canary, weight: 50}
"""


@dataclass(frozen=True)
class PolicyDir:
    """One Service (stable and canary subsets); two Gateways, `edge` for proxies of node
    cluster `edge` and `edge-delta` for those of `edge-delta`; HTTPRoute `payments` splits
    90/10 on both, HTTPRoute `checkout` (host checkout.example) 50/50 on `edge`."""

    path: Path
    gateway_port: int
    delta_gateway_port: int

    @classmethod
    def create(cls, path: Path, stable_port: int, canary_port: int) -> PolicyDir:
        path.mkdir(parents=True, exist_ok=True)
        gateway_port, delta_gateway_port = free_ports(2)
        (path / "policies.yaml").write_text(
            payments_service(stable_port, canary_port)
            + "---\n"
            + gateway(gateway_port)
            + "---\n"
            + gateway(delta_gateway_port, DELTA_GATEWAY)
            + ROUTES_YAML
        )
        return cls(path, gateway_port, delta_gateway_port)

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.gateway_port}"

    @property
    def delta_gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.delta_gateway_port}"


# --- HTTP JSON ----------------------------------------------------------------------------


def put_weights(
    admin_url: str, stable: int, canary: int, *, route: str = ROUTE, timeout: float = 5.0
) -> Reply:
    return http(
        "PUT",
        f"{admin_url}/v1/routes/{route}/weights",
        {"weights": {"stable": stable, "canary": canary}},
        timeout=timeout,
    )


def metric(admin_url: str, name: str, **labels: str) -> float | None:
    """One sample from `/metrics` (None when absent)."""
    reply = http("GET", f"{admin_url}/metrics")
    assert reply.status == 200, reply.text
    return prometheus_sample(reply.text, name, **labels)


# --- memory -------------------------------------------------------------------------------


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size from /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")
