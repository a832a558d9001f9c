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
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_port, free_ports
from breakwater.devtools.traffic import ContinuousTraffic, send_requests
from breakwater.devtools.upstream import UpstreamServer
from tests.etcd.etcd_server import EtcdServer

T = TypeVar("T")

ROUTE = "payments"

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  protocol: http
  endpoints:
    - {{address: 127.0.0.1, port: {stable}, labels: {{version: stable}}}}
    - {{address: 127.0.0.1, port: {canary}, labels: {{version: canary}}}}
  subsets:
    - {{name: stable, labels: {{version: stable}}}}
    - {{name: canary, labels: {{version: canary}}}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: edge-a}}
spec:
  address: 127.0.0.1
  port: {gateway_a}
  nodeSelector: {{cluster: edge-a}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: edge-b}}
spec:
  address: 127.0.0.1
  port: {gateway_b}
  nodeSelector: {{cluster: edge-b}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge-a, edge-b]
  hostnames: ["*"]
  rules:
    - matches:
        - path: {{prefix: /}}
      backends:
        - {{service: payments, subset: stable, weight: 100}}
        - {{service: payments, subset: canary, weight: 0}}
"""


def write_policies(directory: Path) -> Path:
    """The fleet's policies in a new directory, for tests that send no traffic (ports unused)."""
    directory.mkdir()
    stable, canary, gateway_a, gateway_b = free_ports(4)
    (directory / "policies.yaml").write_text(
        POLICIES.format(stable=stable, canary=canary, gateway_a=gateway_a, gateway_b=gateway_b)
    )
    return directory


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll until `predicate` returns something truthy; errors inside it count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last!r})" if last else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(interval)


def http_json(
    url: str, method: str = "GET", body: Any = None, timeout: float = 5.0
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def parse_metrics(text: str) -> dict[str, float]:
    """`name{labels}` → value, from Prometheus text."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = re.match(r"^(\S+?(?:\{.*\})?)\s+(\S+)$", line)
            if match:
                values[match.group(1)] = float(match.group(2))
    return values


class ReplicaProcess:
    """`breakwater serve --state etcd://...` as a subprocess on chosen loopback ports."""

    def __init__(self, name: str, policy_dir: Path, state: str, workdir: Path) -> None:
        self.name = name
        self.policy_dir = policy_dir
        self.state = state
        self.xds_port, self.admin_port = free_ports(2)
        self.log_path = workdir / f"replica-{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    @property
    def xds_address(self) -> str:
        return f"{LOOPBACK}:{self.xds_port}"

    def start(self, timeout: float = 15.0) -> ReplicaProcess:
        command = [
            sys.executable,
            "-m",
            "breakwater.cli",
            "serve",
            "-c",
            str(self.policy_dir),
            "--state",
            self.state,
            "--xds-address",
            self.xds_address,
            "--admin-address",
            f"{LOOPBACK}:{self.admin_port}",
            "--debounce-quiet",
            "0.02",
            "--debounce-cap",
            "0.2",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"replica {self.name} exited:\n{self.log_tail()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"replica {self.name} not ready:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, its lease is not given back."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10.0)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

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
        with urllib.request.urlopen(self.admin_url + "/metrics", timeout=5.0) as response:
            return parse_metrics(response.read().decode())

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
            POLICIES.format(
                stable=self.stable.port,
                canary=self.canary.port,
                gateway_a=self.gateways["edge-a"],
                gateway_b=self.gateways["edge-b"],
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
