"""Breakwater's own gRPC service (`breakwater.v1.Breakwater`), on the xDS port.

A thin skin over `ControlPlaneApi`: errors map to gRPC status codes the way
the HTTP API maps them to HTTP statuses (invalid argument, not found,
aborted for a stale revision, unavailable).
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from breakwater.controlplane.api.operations import ControlPlaneApi
from breakwater.controlplane.api.security import UNAUTHORIZED, SecurityConfig
from breakwater.controlplane.fleet.status import PolicyNotFound
from breakwater.controlplane.state.controller import NotReady
from breakwater.controlplane.state.store import RevisionConflict, StoreError
from breakwater.translators.overrides import RouteNotFound, WeightError
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]


async def _abort(context: Context, exc: Exception) -> NoReturn:
    if isinstance(exc, RevisionConflict):
        await context.abort(grpc.StatusCode.ABORTED, f"{exc} (current revision {exc.current})")
    if isinstance(exc, RouteNotFound):
        await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, WeightError):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    if isinstance(exc, NotReady | StoreError):
        await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
    raise exc


def _weights(result: dict[str, Any]) -> pb.Weights:
    return pb.Weights(
        route=result["route"],
        rule=result["rule"],
        weights=result["weights"],
        source=result["source"],
        revision=result["revision"],
    )


_HANDLED = (RevisionConflict, WeightError, NotReady, StoreError)


class BreakwaterServicer(pb_grpc.BreakwaterServicer):  # type: ignore[misc]
    def __init__(self, api: ControlPlaneApi, security: SecurityConfig) -> None:
        self.api = api
        self.security = security

    async def _authorize(self, context: Context, write: bool) -> None:
        metadata = dict(context.invocation_metadata() or ())
        value = metadata.get("authorization")
        if not self.security.authorized(value if isinstance(value, str) else None, write):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHORIZED)

    async def GetStatus(self, request: Any, context: Context) -> pb.GetStatusResponse:
        await self._authorize(context, write=False)
        status = self.api.status()
        proxies = []
        for proxy in status["proxies"]:
            connected = Timestamp()
            connected.FromSeconds(int(proxy["connected_at"]))
            proxies.append(
                pb.ProxyStatus(
                    node_id=proxy["node_id"],
                    node_cluster=proxy["node_cluster"],
                    protocol=proxy["protocol"],
                    group=proxy["group"],
                    connected_at=connected,
                    types=[
                        pb.TypeState(
                            type_url=t["type_url"],
                            sent_version=t["sent_version"],
                            sent_nonce=t["sent_nonce"],
                            acked_version=t["acked_version"],
                            state=t["state"],
                            nack_version=t["nack_version"],
                            nack_message=t["nack_message"],
                        )
                        for t in proxy["types"]
                    ],
                )
            )
        return pb.GetStatusResponse(
            proxies=proxies,
            config_version=status["config_version"],
            state_revision=status["state_revision"],
            load_errors=status["load_errors"],
            dropped_overrides=[pb.DroppedOverride(**d) for d in status["dropped_overrides"]],
        )

    async def ListPolicies(self, request: Any, context: Context) -> pb.ListPoliciesResponse:
        await self._authorize(context, write=False)
        return json_format.ParseDict(
            {"policies": [_without_nulls(p) for p in self.api.policies()]},
            pb.ListPoliciesResponse(),
        )

    async def GetPolicy(self, request: Any, context: Context) -> pb.PolicyStatus:
        await self._authorize(context, write=False)
        try:
            status = self.api.policy(request.name)
        except PolicyNotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        return json_format.ParseDict(_without_nulls(status), pb.PolicyStatus())

    async def GetWeights(self, request: Any, context: Context) -> pb.Weights:
        await self._authorize(context, write=False)
        rule = request.rule if request.HasField("rule") else None
        try:
            return _weights(self.api.get_weights(request.route, rule))
        except _HANDLED as exc:
            await _abort(context, exc)

    async def SetWeights(self, request: Any, context: Context) -> pb.Weights:
        await self._authorize(context, write=True)
        rule = request.rule if request.HasField("rule") else None
        expected = request.expected_revision if request.HasField("expected_revision") else None
        try:
            result = await self.api.set_weights(
                request.route, rule, dict(request.weights), expected
            )
        except _HANDLED as exc:
            await _abort(context, exc)
        return _weights(result)

    async def ResetWeights(self, request: Any, context: Context) -> pb.Weights:
        await self._authorize(context, write=True)
        rule = request.rule if request.HasField("rule") else None
        expected = request.expected_revision if request.HasField("expected_revision") else None
        try:
            result = await self.api.reset_weights(request.route, rule, expected)
        except _HANDLED as exc:
            await _abort(context, exc)
        return _weights(result)


def _without_nulls(value: Any) -> Any:
    """JSON for `ParseDict`: an unset optional field is left out, not set to null."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def add_to_server(api: ControlPlaneApi, security: SecurityConfig) -> Any:
    """A hook for `XdsServer(services=...)`: serve the API on the same port as ADS."""

    def hook(server: grpc.aio.Server) -> None:
        pb_grpc.add_BreakwaterServicer_to_server(BreakwaterServicer(api, security), server)

    return hook
