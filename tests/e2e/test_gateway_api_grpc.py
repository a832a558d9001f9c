"""A Gateway API GRPCRoute through a real Envoy to real gRPC servers.

Two gRPC servers answer every call with their own name, the method they
served and the metadata they got; the GRPCRoute picks between them by
service, method and header, as its matches say, and its header modifier
reaches the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from breakwater.devtools.ports import LOOPBACK
from tests.e2e.mesh import Mesh

GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: grpc
  annotations: {breakwater.dev/node-cluster: edge}
spec:
  gatewayClassName: breakwater
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners: [{name: grpc, port: $gateway_port, protocol: HTTP}]
"""

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: greeter}
spec:
  protocol: grpc
  endpoints:
    - {address: 127.0.0.1, port: %(one)d, labels: {track: one}}
    - {address: 127.0.0.1, port: %(two)d, labels: {track: two}}
  subsets:
    - {name: one, labels: {track: one}}
    - {name: two, labels: {track: two}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter}
spec:
  parentRefs: [{name: grpc}]
  rules:
    - matches:
        - method: {service: helloworld.Greeter, method: SayHello}
          headers: [{name: x-track, value: two}]
      backendRefs: [{group: breakwater.dev, kind: ServiceSubset, name: greeter.two}]
    - matches: [{method: {service: helloworld.Greeter}}]
      backendRefs: [{group: breakwater.dev, kind: ServiceSubset, name: greeter.one}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: x-routed-by, value: grpcroute}]}
    - matches: [{method: {type: RegularExpression, method: "Check|Watch"}}]
      backendRefs: [{group: breakwater.dev, kind: ServiceSubset, name: greeter.two}]
"""


METHODS = {
    "helloworld.Greeter": ("SayHello", "SayGoodbye"),
    "grpc.health.v1.Health": ("Check",),
    "other.Service": ("Method",),
}
"""What the servers implement (`other.Service` too, which no rule matches)."""


def _echo(server: str, method: str) -> grpc.RpcMethodHandler[bytes, bytes]:
    """A method that answers with JSON: who served it, which method, the metadata it got."""

    def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = {key: value for key, value in context.invocation_metadata()}
        return json.dumps({"server": server, "method": method, "metadata": metadata}).encode()

    return grpc.unary_unary_rpc_method_handler(answer)


def _serve(name: str) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                service, {m: _echo(name, f"/{service}/{m}") for m in methods}
            )
            for service, methods in METHODS.items()
        ]
    )
    port = server.add_insecure_port(f"{LOOPBACK}:0")
    server.start()
    return server, port


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    servers = {name: _serve(name) for name in ("one", "two")}
    built = Mesh(Path(tmp_path_factory.mktemp("grpcroute")))
    try:
        ports = {name: port for name, (_, port) in servers.items()}
        built.start(POLICIES % ports, gateway_document=GATEWAY, listener="default.grpc")
        yield built
    finally:
        built.close()
        for server, _ in servers.values():
            server.stop(0)


def _call(mesh: Mesh, method: str, metadata: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    with grpc.insecure_channel(f"{LOOPBACK}:{mesh.gateway_port}") as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        reply = call(b"hello", metadata=metadata, timeout=5)
    answer: dict[str, Any] = json.loads(reply)
    return answer


@pytest.mark.parametrize(
    ("method", "metadata", "server"),
    [
        ("/helloworld.Greeter/SayHello", (("x-track", "two"),), "two"),
        ("/helloworld.Greeter/SayHello", (), "one"),
        ("/helloworld.Greeter/SayGoodbye", (("x-track", "two"),), "one"),
        ("/grpc.health.v1.Health/Check", (), "two"),
    ],
)
def test_calls_go_where_the_grpcroute_matches_say(
    mesh: Mesh, method: str, metadata: tuple[tuple[str, str], ...], server: str
) -> None:
    answer = _call(mesh, method, metadata)
    assert (answer["server"], answer["method"]) == (server, method)
    if server == "one":
        assert answer["metadata"]["x-routed-by"] == "grpcroute"


def test_a_call_no_rule_matches_is_refused_by_envoy(mesh: Mesh) -> None:
    """The servers implement it; Envoy's 404 for a call no rule matches reads as UNIMPLEMENTED."""
    with pytest.raises(grpc.RpcError) as refused:
        _call(mesh, "/other.Service/Method")
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
