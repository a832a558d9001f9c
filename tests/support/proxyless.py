"""Proxyless gRPC tests' parts: the `payments` Service and its routes, and a control plane
with the xDS clients a test starts (grpcio's, or grpc-go's), each with its own process."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.grpc_go_client import BUILD_COMMAND, client_binary
from breakwater.devtools.proxyless import GRPCIO_CLIENT, GrpcBackend, XdsClient

SERVICE = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  protocol: grpc
  endpoints:
    - {{address: 127.0.0.1, port: {stable}, labels: {{version: stable}}}}
    - {{address: 127.0.0.1, port: {canary}, labels: {{version: canary}}}}
  subsets:
    - {{name: stable, labels: {{version: stable}}}}
    - {{name: canary, labels: {{version: canary}}}}
"""

BREAKWATER_ROUTE = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments-split}
spec:
  services: [payments]
  rules:
    - matches: [{headers: [{name: canary-user, value: "true"}]}]
      backends: [{service: payments, subset: canary}]
    - backends:
        - {service: payments, subset: stable, weight: 90}
        - {service: payments, subset: canary, weight: 10}
"""

GAMMA_ROUTE = """\
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: payments-split}
spec:
  parentRefs: [{group: "", kind: Service, name: payments}]
  rules:
    - matches:
        - method: {service: breakwater.test.Echo}
          headers: [{name: canary-user, value: "true"}]
      backendRefs: [{group: breakwater.dev, kind: ServiceSubset, name: payments.canary}]
    - backendRefs:
        - {group: breakwater.dev, kind: ServiceSubset, name: payments.stable, weight: 90}
        - {group: breakwater.dev, kind: ServiceSubset, name: payments.canary, weight: 10}
"""


class Plane:
    """A control plane over a policy directory, and the clients the test starts."""

    def __init__(self, workdir: Path) -> None:
        self.policies = workdir / "policies"
        self.policies.mkdir()
        (workdir / "state").mkdir()
        self.workdir = workdir
        self.thread: ControlPlaneThread | None = None
        self.admin_tls: ssl.SSLContext | None = None
        self.clients: list[XdsClient] = []

    def start(
        self,
        text: str,
        fleet: FleetOptions | None = None,
        *,
        security: SecurityConfig | None = None,
        admin_tls: ssl.SSLContext | None = None,
    ) -> Plane:
        """Serve `text`; with TLS in `security`, `admin_tls` verifies the admin API's
        certificate."""
        (self.policies / "payments.yaml").write_text(text)
        self.admin_tls = admin_tls
        self.thread = ControlPlaneThread(
            self.policies, self.workdir / "state", fleet=fleet, security=security
        )
        self.thread.start()
        return self

    def client(
        self,
        node_id: str = "checkout-1",
        target: str = "payments",
        *,
        program: Sequence[str] = GRPCIO_CLIENT,
        bootstrap: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> XdsClient:
        assert self.thread is not None
        client = XdsClient(
            self.thread.xds_port, node_id, target, program=program, bootstrap=bootstrap, env=env
        )
        self.clients.append(client)
        return client

    def api(self, method: str, path: str, body: Any = None) -> Any:
        assert self.thread is not None
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.thread.admin_url + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10, context=self.admin_tls) as reply:
            return json.loads(reply.read())

    def proxyless(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api("GET", "/v1/status")["proxies"]
        return [p for p in found if p.get("user_agent", "").lower().startswith("grpc")]

    def assert_no_nack(self) -> None:
        for proxy in self.proxyless():
            for kind in proxy["types"]:
                assert kind["nacks"] == 0, kind

    def close(self) -> None:
        for client in self.clients:
            client.stop()
        if self.thread is not None:
            self.thread.stop()


def started_backends() -> Iterator[dict[str, GrpcBackend]]:
    """The `stable-1` and `canary-1` servers, stopped when the generator closes."""
    servers = {name: GrpcBackend(name) for name in ("stable-1", "canary-1")}
    yield servers
    for server in servers.values():
        server.stop()


def grpc_go_client() -> tuple[str]:
    """The command of grpc-go's client; a test without it fails with what to run."""
    binary = client_binary()
    if not binary.exists():
        pytest.fail(
            f"grpc-go's xDS client is not built: run `{BUILD_COMMAND}` once (Go and the Go "
            f"module proxy; it goes to {binary})"
        )
    return (str(binary),)


def service(backends: dict[str, GrpcBackend]) -> str:
    return SERVICE.format(stable=backends["stable-1"].port, canary=backends["canary-1"].port)


def first_answer(client: XdsClient) -> None:
    """The first call waits for the xDS client to fetch everything it needs."""
    answer = client.calls(1, timeout=20)
    assert not answer["errors"], answer


def assert_split_and_header_match(client: XdsClient) -> None:
    """The payments route of `BREAKWATER_ROUTE` / `GAMMA_ROUTE` as the client's calls show
    it: 200 calls split about 90/10, and every call marked `canary-user: true` to canary."""
    split = client.calls(200)
    assert not split["errors"], split
    canary = split["by"].get("canary-1", 0)
    # 10 % of 200 is 20; the binomial's standard deviation is 4.2: 5..40 is far outside chance.
    assert 5 <= canary <= 40, split
    assert split["by"]["stable-1"] + canary == 200

    marked = client.calls(20, {"canary-user": "true"})
    assert marked["by"] == {"canary-1": 20}, marked


CLIENTS = ("grpcio", "grpc-go")
"""The xDS clients a test may be run with (parametrize by these names)."""


def client_program(name: str) -> Sequence[str]:
    """The command of the client called `name` in `CLIENTS`."""
    return GRPCIO_CLIENT if name == "grpcio" else grpc_go_client()
