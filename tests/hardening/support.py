"""Pieces the hardening tests share: a policy directory, HTTP JSON, `breakwater serve` as a
process (optionally with lowered resource limits), a real Envoy, memory readings.

Every wait polls against a deadline; every process started here is stopped by
whoever started it, by its own handle.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_port, free_ports

T = TypeVar("T")

BREAKWATER = Path(sys.executable).with_name("breakwater")
ROUTE = "payments"
GATEWAY = "edge"
NODE_CLUSTER = "edge"
STABLE = "payments|stable"
CANARY = "payments|canary"

ROUTES = ("payments", "checkout")
DELTA_GATEWAY = "edge-delta"
DELTA_NODE_CLUSTER = "edge-delta"

POLICIES = """\
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
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  address: 127.0.0.1
  port: {gateway_port}
  nodeSelector:
    cluster: edge
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: edge-delta}}
spec:
  address: 127.0.0.1
  port: {delta_gateway_port}
  nodeSelector:
    cluster: edge-delta
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge, edge-delta]
  hostnames: ["*"]
  rules:
    - name: split
      matches:
        - path: {{prefix: /}}
      backends:
        - {{service: payments, subset: stable, weight: 90}}
        - {{service: payments, subset: canary, weight: 10}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: checkout}}
spec:
  gateways: [edge]
  hostnames: ["checkout.example"]
  rules:
    - name: split
      matches:
        - path: {{prefix: /}}
      backends:
        - {{service: payments, subset: stable, weight: 50}}
        - {{service: payments, subset: canary, weight: 50}}
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
            POLICIES.format(
                stable_port=stable_port,
                canary_port=canary_port,
                gateway_port=gateway_port,
                delta_gateway_port=delta_gateway_port,
            )
        )
        return cls(path, gateway_port, delta_gateway_port)

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.gateway_port}"

    @property
    def delta_gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.delta_gateway_port}"


def wait_until(
    predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll until `predicate` returns something truthy and return it; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(interval)


# --- HTTP JSON ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    text: str


def http(method: str, url: str, body: Any = None, *, timeout: float = 5.0) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    text = payload.decode(errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return Reply(status, parsed, text)


def put_weights(
    admin_url: str, stable: int, canary: int, *, route: str = ROUTE, timeout: float = 5.0
) -> Reply:
    return http(
        "PUT",
        f"{admin_url}/v1/routes/{route}/weights",
        {"weights": {"stable": stable, "canary": canary}},
        timeout=timeout,
    )


_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)"
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric(admin_url: str, name: str, **labels: str) -> float | None:
    """One sample from `/metrics` (None when absent)."""
    reply = http("GET", f"{admin_url}/metrics")
    assert reply.status == 200, reply.text
    for line in reply.text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        found = dict(_LABEL.findall(match["labels"] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match["value"])
    return None


def proxy_synced(admin_url: str, node_id: str) -> bool:
    reply = http("GET", f"{admin_url}/v1/status", timeout=2.0)
    return reply.status == 200 and any(
        p["node_id"] == node_id and p["synced"] for p in reply.body["proxies"]
    )


# --- memory -------------------------------------------------------------------------------


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size from /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


# --- `breakwater serve` as a process ------------------------------------------------------

PreExec = Callable[[], None]


class ServeProcess:
    """`breakwater serve` in a subprocess on fixed ports, its log in a file."""

    def __init__(
        self,
        policy_dir: Path,
        state_dir: Path,
        log_path: Path,
        *,
        xds_port: int | None = None,
        admin_port: int | None = None,
        extra_args: Sequence[str] = (),
        preexec_fn: PreExec | None = None,
    ) -> None:
        self.xds_port = xds_port or free_port()
        self.admin_port = admin_port or free_port()
        self.command = [
            os.fspath(BREAKWATER),
            "serve",
            "-c",
            os.fspath(policy_dir),
            "--state",
            os.fspath(state_dir),
            "--xds-port",
            str(self.xds_port),
            "--admin-port",
            str(self.admin_port),
            "--debounce-quiet",
            "0.02",
            "--debounce-cap",
            "0.2",
            *extra_args,
        ]
        self.log_path = log_path
        self.preexec_fn = preexec_fn
        self.process: subprocess.Popen[bytes] | None = None
        self._copier: threading.Thread | None = None

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, timeout: float = 20.0) -> Self:
        # The output goes through a pipe, copied to the log by this process: a file the
        # server wrote itself would be subject to the file size limit some tests impose.
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=self.preexec_fn,
        )
        copier = threading.Thread(
            target=_copy, args=(self.process.stdout, self.log_path), daemon=True
        )
        copier.start()
        self._copier = copier
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"breakwater serve exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if http("GET", f"{self.admin_url}/readyz", timeout=1.0).status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise AssertionError(
                    f"breakwater serve not ready in {timeout} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def kill9(self) -> int:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(10)

    def _flush_log(self) -> None:
        if (
            self._copier is not None
            and self.process is not None
            and self.process.poll() is not None
        ):
            self._copier.join(5)

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM and wait; returns the exit code and the seconds it took to exit."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        self._flush_log()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _copy(source: IO[bytes] | None, log_path: Path) -> None:
    """Copy a process's output to a file, line by line, until the process closes it."""
    if source is None:
        return
    with source, log_path.open("ab") as log:
        for line in source:
            log.write(line)
            log.flush()


# --- a real Envoy ------------------------------------------------------------------------------


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
