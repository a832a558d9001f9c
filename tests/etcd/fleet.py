"""Several Breakwater replicas on one etcd, real upstreams and real Envoys, all on loopback.

The policies declare one Service (`payments`, subsets `stable` and
`canary`), two Gateways (`edge-a`, `edge-b`, each on its own port and
selecting its own node cluster, so two Envoys can run side by side) and one
HTTPRoute splitting `payments` between the subsets, 100/0 in the YAML.
Replicas run as `breakwater serve` subprocesses, so a test can `kill -9`
one. Every process started here is stopped by `Fleet.close`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.devtools.adminclient import http
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_port, free_ports
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.traffic import ContinuousTraffic, send_requests
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.support import gateway, payments_service

ROUTE = "payments"

ROUTE_YAML = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge-a, edge-b]
  hostnames: ["*"]
  rules:
    - matches:
        - path: {prefix: /}
      backends:
        - {service: payments, subset: stable, weight: 100}
        - {service: payments, subset: canary, weight: 0}
"""


def policies(stable: int, canary: int, gateway_a: int, gateway_b: int) -> str:
    """The fleet's policy file: upstreams on `stable` and `canary`, gateways on the other two."""
    return (
        payments_service(stable, canary)
        + "---\n"
        + gateway(gateway_a, "edge-a")
        + "---\n"
        + gateway(gateway_b, "edge-b")
        + ROUTE_YAML
    )


def write_policies(directory: Path) -> Path:
    """The fleet's policies in a new directory, for tests that send no traffic (ports unused)."""
    directory.mkdir()
    stable, canary, gateway_a, gateway_b = free_ports(4)
    (directory / "policies.yaml").write_text(policies(stable, canary, gateway_a, gateway_b))
    return directory


def http_json(
    url: str, method: str = "GET", body: Any = None, timeout: float = 5.0
) -> tuple[int, Any]:
    """Status and JSON body of one request; a body that is not JSON fails the test."""
    reply = http(method, url, body, timeout=timeout)
    return reply.status, json.loads(reply.text or "null")


def parse_metrics(text: str) -> dict[str, float]:
    """`name{labels}` → value, from Prometheus text."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = re.match(r"^(\S+?(?:\{.*\})?)\s+(\S+)$", line)
            if match:
                values[match.group(1)] = float(match.group(2))
    return values


class ReplicaProcess(ServeProcess):
    """`breakwater serve --state etcd://...` as a subprocess on its own loopback ports."""

    def __init__(self, name: str, policy_dir: Path, state: str, workdir: Path) -> None:
        super().__init__(policy_dir, state, workdir / f"replica-{name}.log", name=f"replica {name}")

    # --- admin API -------------------------------------------------------

    def get(self, path: str) -> tuple[int, Any]:
        return http_json(self.admin_url + path)

    def status(self) -> dict[str, Any]:
        code, body = self.get("/v1/status")
        assert code == 200, body
        result: dict[str, Any] = body
        return result

    def revision(self) -> int:
        return int(self.status()["state_revision"])

    def proxies(self) -> set[str]:
        return {p["node_id"] for p in self.status()["proxies"]}

    def put_weights(
        self, weights: Mapping[str, int], expected_revision: int | None = None
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {"weights": dict(weights)}
        if expected_revision is not None:
            body["expectedRevision"] = expected_revision
        return http_json(f"{self.admin_url}/v1/routes/{ROUTE}/weights", "PUT", body)

    def weights(self) -> dict[str, Any]:
        code, body = self.get(f"/v1/routes/{ROUTE}/weights")
        assert code == 200, body
        result: dict[str, Any] = body
        return result

    def metrics(self) -> dict[str, float]:
        reply = http("GET", self.admin_url + "/metrics", timeout=5.0)
        assert reply.status == 200, reply.text
        return parse_metrics(reply.text)

    def store(self) -> dict[str, Any]:
        code, body = self.get("/healthz")
        assert code == 200, body
        result: dict[str, Any] = body["store"]
        return result


class Fleet:
    def __init__(self, workdir: Path, etcd: EtcdServer) -> None:
        self.workdir = workdir
        self.etcd = etcd
        self.state = etcd.url("fleet")
        self.policy_dir = workdir / "policies"
        self.policy_dir.mkdir()
        self.stable = UpstreamServer(service="payments", subset="stable", instance="stable").start()
        self.canary = UpstreamServer(service="payments", subset="canary", instance="canary").start()
        self.gateways = {"edge-a": free_port(), "edge-b": free_port()}
        (self.policy_dir / "policies.yaml").write_text(
            policies(
                self.stable.port,
                self.canary.port,
                self.gateways["edge-a"],
                self.gateways["edge-b"],
            )
        )
        self.replicas: list[ReplicaProcess] = []
        self.envoys: list[EnvoyProcess] = []

    def replica(self, name: str) -> ReplicaProcess:
        """A replica with its ports chosen, not started yet."""
        replica = ReplicaProcess(name, self.policy_dir, self.state, self.workdir)
        self.replicas.append(replica)
        return replica

    def envoy(self, gateway: str, xds: list[ReplicaProcess], node_id: str) -> EnvoyProcess:
        """A started Envoy for one gateway, its xds_cluster listing these replicas in order."""
        bootstrap = render_bootstrap(
            node_id,
            gateway,
            [(LOOPBACK, replica.xds_port) for replica in xds],
            free_port(),
            connect_timeout="0.25s",
        )
        envoy = EnvoyProcess(bootstrap, log_level="warn", workdir=self.workdir / node_id)
        self.envoys.append(envoy)
        envoy.start()
        wait_until(lambda: self.split(gateway, 5) is not None, 10.0, f"{gateway} serving")
        return envoy

    def url(self, gateway: str) -> str:
        return f"http://{LOOPBACK}:{self.gateways[gateway]}"

    def split(self, gateway: str, count: int = 20) -> float | None:
        """Share of `count` requests through a gateway that reached the canary; None on errors."""
        result = send_requests(self.url(gateway), count, concurrency=4, timeout=2.0)
        if result.ok != count:
            return None
        return result.subset_fraction("canary")

    def wait_split(self, gateway: str, canary: float, timeout: float) -> float:
        """Seconds until every request through `gateway` lands as `canary` (0.0 or 1.0) says."""
        started = time.monotonic()
        wait_until(
            lambda: self.split(gateway, 10) == canary,
            timeout,
            f"{gateway} sending {canary:.0%} to the canary",
            interval=0.01,
        )
        return time.monotonic() - started

    def continuous(self, gateway: str, max_duration: float = 60.0) -> ContinuousTraffic:
        return ContinuousTraffic(
            self.url(gateway), rate=100.0, timeout=2.0, max_duration=max_duration
        )

    def close(self) -> None:
        for envoy in self.envoys:
            envoy.cleanup()
        for replica in self.replicas:
            replica.stop()
        self.stable.stop()
        self.canary.stop()
