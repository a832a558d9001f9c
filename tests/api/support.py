"""Shared pieces of the API tests: a small policy directory, JSON over HTTP,
Prometheus text, a `breakwater serve` subprocess, a real Envoy and a tiny ADS probe.

Every wait polls against a deadline; every process started here is stopped by
whoever started it.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.controlplane.resources import ROUTE_TYPE
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import free_port

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
BREAKWATER = Path(sys.executable).with_name("breakwater")
ROUTE = "payments"
GATEWAY = "edge"
NODE_CLUSTER = "edge"

SERVICES_YAML = """\
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

GATEWAYS_YAML = """\
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  address: 127.0.0.1
  port: {gateway_port}
  nodeSelector:
    cluster: edge
"""

ROUTES_YAML = """\
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge]
  hostnames: ["*"]
  rules:
    - name: split
      matches:
        - path: {{prefix: /}}
      backends:
{backends}
"""


@dataclass(frozen=True)
class PolicyDir:
    """A policy directory with one Service (stable, canary), one Gateway and one split HTTPRoute."""

    path: Path
    stable_port: int
    canary_port: int
    gateway_port: int

    @property
    def routes_file(self) -> Path:
        return self.path / "routes.yaml"

    def write(self, stable: int = 90, canary: int = 10) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "services.yaml").write_text(
            SERVICES_YAML.format(stable_port=self.stable_port, canary_port=self.canary_port)
        )
        (self.path / "gateways.yaml").write_text(
            GATEWAYS_YAML.format(gateway_port=self.gateway_port)
        )
        self.write_route(
            f"        - {{service: payments, subset: stable, weight: {stable}}}\n"
            f"        - {{service: payments, subset: canary, weight: {canary}}}\n"
        )

    def write_route(self, backends: str) -> None:
        """Replace the split rule's backends (YAML list items, indented eight spaces)."""
        self.replace(self.routes_file, ROUTES_YAML.format(backends=backends.rstrip("\n")) + "\n")

    def replace(self, file: Path, text: str) -> None:
        """Write a file whole (temp file and rename), so the watcher never sees half of it."""
        temporary = file.with_name(f".{file.name}.tmp")
        temporary.write_text(text)
        os.replace(temporary, file)


def make_policy_dir(
    path: Path, stable_port: int | None = None, canary_port: int | None = None
) -> PolicyDir:
    policies = PolicyDir(
        path,
        stable_port=stable_port if stable_port is not None else free_port(),
        canary_port=canary_port if canary_port is not None else free_port(),
        gateway_port=free_port(),
    )
    policies.write()
    return policies


# --- waiting ------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.02,
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


# --- the admin API over HTTP ------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    text: str


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One request; a JSON `body` is encoded, `raw` bytes are sent as they are."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    text = payload.decode()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return Reply(status, parsed, text)


def weights_url(admin_url: str, route: str = ROUTE) -> str:
    return f"{admin_url}/v1/routes/{route}/weights"


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


def scrape(admin_url: str, name: str, **labels: str) -> float:
    reply = http("GET", f"{admin_url}/metrics")
    assert reply.status == 200, reply.text
    value = metric(reply.text, name, **labels)
    assert value is not None, f"{name} {labels} is not in /metrics"
    return value


def proxy_synced(admin_url: str, node_id: str) -> bool:
    reply = http("GET", f"{admin_url}/v1/status", timeout=2.0)
    if reply.status != 200:
        return False
    return any(p["node_id"] == node_id and p["synced"] for p in reply.body["proxies"])


# --- the CLI ---------------------------------------------------------------------


def run_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.fspath(BREAKWATER), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


# --- `breakwater serve` as a process ---------------------------------------------


class ServeProcess:
    """`breakwater serve` in a subprocess on fixed ports, its log in a file."""

    def __init__(
        self,
        policy_dir: Path,
        state_dir: Path,
        *,
        xds_port: int,
        admin_port: int,
        log_path: Path,
    ) -> None:
        self.command = [
            os.fspath(BREAKWATER),
            "serve",
            "-c",
            os.fspath(policy_dir),
            "--state",
            os.fspath(state_dir),
            "--xds-port",
            str(xds_port),
            "--admin-port",
            str(admin_port),
            "--debounce-quiet",
            "0.02",
            "--debounce-cap",
            "0.2",
        ]
        self.xds_port = xds_port
        self.admin_port = admin_port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    def start(self, timeout: float = 20.0) -> Self:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
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
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(10)

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

    def log_tail(self, lines: int = 30) -> str:
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


# --- a real Envoy ---------------------------------------------------------------------


def envoy_for(xds_port: int, node_id: str) -> EnvoyProcess:
    bootstrap = render_bootstrap(
        node_id=node_id,
        node_cluster=NODE_CLUSTER,
        xds_addresses=[(LOOPBACK, xds_port)],
        admin_port=free_port(),
    )
    return EnvoyProcess(bootstrap, log_level="warning")


def envoy_route_weights(envoy: EnvoyProcess) -> dict[str, int]:
    """The weighted clusters of the gateway's first route as Envoy holds them now."""
    for config in envoy.config_dump("dynamic_route_configs")["configs"]:
        route_config = config.get("route_config", {})
        if route_config.get("name") != GATEWAY:
            continue
        for host in route_config.get("virtual_hosts", []):
            for route in host.get("routes", []):
                clusters = route.get("route", {}).get("weighted_clusters", {}).get("clusters", [])
                if clusters:
                    return {c["name"]: int(c.get("weight", 0)) for c in clusters}
    return {}


# --- a minimal ADS client ------------------------------------------------------------------


class AdsProbe:
    """One State-of-the-World ADS stream that asks for the gateway's routes, as a proxy would.

    A connected node makes the control plane build and serve a snapshot for its
    group, so `config_version` in status means something without an Envoy.
    Responses are read on a thread so that waiting for one has a deadline.
    """

    def __init__(self, xds_port: int, node_id: str = "probe") -> None:
        self._channel = grpc.insecure_channel(f"{LOOPBACK}:{xds_port}")
        self._requests: queue.Queue[Any] = queue.Queue()
        self._responses: queue.Queue[Any] = queue.Queue()
        self._node_id = node_id
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        self._call = stub.StreamAggregatedResources(self._request_iterator(), timeout=120.0)
        self._reader = threading.Thread(target=self._read, name="ads-probe", daemon=True)
        self._reader.start()

    def _request_iterator(self) -> Iterator[Any]:
        while True:
            item = self._requests.get()
            if item is None:
                return
            yield item

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(response)
        except grpc.RpcError as exc:
            self._responses.put(exc)

    def request_routes(self, version: str = "", nonce: str = "") -> None:
        """The first request (no nonce) names the node; later ones ACK `version` and `nonce`."""
        request = discovery_pb2.DiscoveryRequest(
            type_url=ROUTE_TYPE,
            resource_names=[GATEWAY],
            version_info=version,
            response_nonce=nonce,
        )
        if not nonce:
            request.node.id = self._node_id
            request.node.cluster = NODE_CLUSTER
        self._requests.put(request)

    def next_routes(self, timeout: float = 10.0) -> tuple[str, str, dict[str, int]]:
        """The next response: its version, nonce and the split rule's weights by cluster."""
        try:
            response = self._responses.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no RouteConfiguration response within {timeout} s") from None
        if isinstance(response, Exception):
            raise AssertionError(f"the ADS stream ended: {response!r}")
        weights: dict[str, int] = {}
        for resource in response.resources:
            config = route_pb2.RouteConfiguration()
            resource.Unpack(config)
            for host in config.virtual_hosts:
                for route in host.routes:
                    for cluster in route.route.weighted_clusters.clusters:
                        weights[cluster.name] = cluster.weight.value
        return str(response.version_info), str(response.nonce), weights

    def pending(self) -> int:
        """Responses received and not read yet."""
        return self._responses.qsize()

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()
        self._reader.join(5)
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
