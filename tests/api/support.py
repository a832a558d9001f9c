"""Shared pieces of the API tests: a small policy directory, Prometheus readings, the CLI
and a tiny ADS probe.

Every wait polls against a deadline; every process started here is stopped by
whoever started it.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from breakwater.controlplane.xds.resources import ROUTE_TYPE
from breakwater.devtools.adminclient import http
from breakwater.devtools.ports import free_port
from tests.support import GATEWAY, NODE_CLUSTER, ROUTE, gateway, metric, payments_service

LOOPBACK = "127.0.0.1"
BREAKWATER = Path(sys.executable).with_name("breakwater")

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
            payments_service(self.stable_port, self.canary_port)
        )
        (self.path / "gateways.yaml").write_text(gateway(self.gateway_port))
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


# --- the admin API over HTTP ------------------------------------------------------


def weights_url(admin_url: str, route: str = ROUTE) -> str:
    return f"{admin_url}/v1/routes/{route}/weights"


def scrape(admin_url: str, name: str, **labels: str) -> float:
    reply = http("GET", f"{admin_url}/metrics")
    assert reply.status == 200, reply.text
    value = metric(reply.text, name, **labels)
    assert value is not None, f"{name} {labels} is not in /metrics"
    return value


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


# --- a real Envoy ---------------------------------------------------------------------


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
