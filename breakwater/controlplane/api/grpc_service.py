"""Breakwater's own gRPC service (`breakwater.v1.Breakwater`), on the xDS port.

A thin skin over `ControlPlaneApi`: each response message is filled from
the same model the HTTP API sends as JSON (the message carries the fields it
declares, by the same names), and refusals abort with the code and the text
the error table gives.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError

from breakwater.controlplane.api.errors import HANDLED, BadRequest, refusal
from breakwater.controlplane.api.instance_models import RegisterRequest
from breakwater.controlplane.api.models import ApiModel
from breakwater.controlplane.api.operations import ControlPlaneApi
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.api.table import BY_GRPC
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]
M = TypeVar("M", bound=Message)

_TIMESTAMP = Timestamp.DESCRIPTOR.full_name


def _proto_json(value: Any, descriptor: Any) -> Any:
    """The model's JSON as protobuf's JSON mapping reads it: seconds since the epoch become
    RFC 3339 text where the message has a Timestamp; everything else is the same.

    `descriptor` is the message's Descriptor (pure Python or upb, whichever protobuf runs)."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, item in value.items():
        field = descriptor.fields_by_name.get(key)
        if field is None or field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        message = field.message_type
        if message is None or message.GetOptions().map_entry:
            continue
        if message.full_name == _TIMESTAMP and isinstance(item, int | float):
            seconds = math.floor(item)  # apart, so that the float's precision stays in nanos
            nanos = min(999_999_999, round((item - seconds) * 1e9))
            out[key] = Timestamp(seconds=seconds, nanos=nanos).ToJsonString()
        elif isinstance(item, list):
            out[key] = [_proto_json(v, message) for v in item]
        else:
            out[key] = _proto_json(item, message)
    return out


def to_message(model: ApiModel, message_type: type[M]) -> M:
    """A response message filled from a model's JSON; fields the message lacks are left out."""
    data = _proto_json(model.to_json(), message_type.DESCRIPTOR)
    return json_format.ParseDict(data, message_type(), ignore_unknown_fields=True)


def _optional(request: Any, name: str) -> Any:
    return getattr(request, name) if request.HasField(name) else None


def _rule(request: Any) -> int | str | None:
    """The rule a weights request names: by `rule_name`, or by its index `rule`."""
    if request.HasField("rule_name"):
        if request.HasField("rule"):
            raise BadRequest("name the rule by `rule` (its index) or `rule_name`, not both")
        return str(request.rule_name)
    return int(request.rule) if request.HasField("rule") else None


class BreakwaterServicer(pb_grpc.BreakwaterServicer):  # type: ignore[misc]
    def __init__(self, api: ControlPlaneApi, security: SecurityConfig) -> None:
        self.api = api
        self.security = security

    async def _answer(
        self,
        context: Context,
        rpc: str,
        produce: Callable[[], ApiModel | Awaitable[ApiModel]],
        message_type: type[M],
    ) -> M:
        """Authorize (a write as the operations table says), run the operation, fill its
        message; refusals abort the call."""
        try:
            metadata = dict(context.invocation_metadata() or ())
            value = metadata.get("authorization")
            self.security.authorize(value if isinstance(value, str) else None, BY_GRPC[rpc].writes)
            result = produce()
            model = await result if inspect.isawaitable(result) else result
        except HANDLED as exc:
            rule, answer = refusal(exc)
            await context.abort(rule.grpc_code, answer.as_text())
        return to_message(model, message_type)

    async def GetStatus(self, request: Any, context: Context) -> Any:
        return await self._answer(context, "GetStatus", self.api.status, pb.GetStatusResponse)

    async def ListSnapshots(self, request: Any, context: Context) -> Any:
        return await self._answer(context, "ListSnapshots", self.api.served, pb.SnapshotsResponse)

    async def ListPolicies(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context, "ListPolicies", self.api.policies, pb.ListPoliciesResponse
        )

    async def GetPolicy(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context, "GetPolicy", lambda: self.api.policy(request.name), pb.PolicyStatus
        )

    async def ListEvents(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "ListEvents",
            lambda: self.api.changes(request.route or None, request.limit or 100),
            pb.ChangesResponse,
        )

    async def ListRollouts(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context, "ListRollouts", self.api.list_rollouts, pb.RolloutsResponse
        )

    async def GetRollout(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context, "GetRollout", lambda: self.api.rollout(request.name), pb.RolloutStatus
        )

    async def RolloutCommand(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "RolloutCommand",
            lambda: self.api.rollout_command(
                request.name,
                request.command,
                _optional(request, "expected_phase"),
                _optional(request, "expected_step"),
            ),
            pb.RolloutStatus,
        )

    async def ListRoutes(self, request: Any, context: Context) -> Any:
        return await self._answer(context, "ListRoutes", self.api.routes, pb.RoutesResponse)

    async def ExplainService(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context, "ExplainService", lambda: self.api.explain(request.service), pb.ExplainResponse
        )

    async def GetWeights(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "GetWeights",
            lambda: self.api.get_weights(request.route, _rule(request)),
            pb.Weights,
        )

    async def SetWeights(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "SetWeights",
            lambda: self.api.set_weights(
                request.route,
                _rule(request),
                dict(request.weights),
                _optional(request, "expected_revision"),
                _who(context),
            ),
            pb.Weights,
        )

    async def ResetWeights(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "ResetWeights",
            lambda: self.api.reset_weights(
                request.route,
                _rule(request),
                _optional(request, "expected_revision"),
                _who(context),
            ),
            pb.Weights,
        )

    async def ListEndpoints(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "ListEndpoints",
            lambda: self.api.endpoints(request.service),
            pb.EndpointsResponse,
        )

    async def DrainEndpoint(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "DrainEndpoint",
            lambda: self.api.drain(
                request.service,
                request.endpoint,
                _optional(request, "expected_revision"),
                _who(context),
            ),
            pb.ServiceEndpoint,
        )

    async def UndrainEndpoint(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "UndrainEndpoint",
            lambda: self.api.undrain(
                request.service,
                request.endpoint,
                _optional(request, "expected_revision"),
                _who(context),
            ),
            pb.ServiceEndpoint,
        )

    async def RegisterInstance(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "RegisterInstance",
            lambda: self.api.register_instance(
                request.service, request.instance, _register_request(request), _who(context)
            ),
            pb.RegisteredInstance,
        )

    async def DeregisterInstance(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "DeregisterInstance",
            lambda: self.api.deregister_instance(request.service, request.instance, _who(context)),
            pb.RegisteredInstance,
        )

    async def ListInstances(self, request: Any, context: Context) -> Any:
        return await self._answer(
            context,
            "ListInstances",
            lambda: self.api.list_instances(request.service),
            pb.InstancesResponse,
        )


def _register_request(request: Any) -> RegisterRequest:
    """The request's fields through the model HTTP reads its body with: one set of checks."""
    fields: dict[str, Any] = {"labels": dict(request.labels)}
    for name in ("zone", "weight", "ttl"):
        if request.HasField(name):
            fields[name] = getattr(request, name)
    try:
        return RegisterRequest.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "the request"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise BadRequest(f"`{where}`: {message}") from None


def add_to_server(api: ControlPlaneApi, security: SecurityConfig) -> Any:
    """A hook for `XdsServer(services=...)`: serve the API on the same port as ADS."""

    def hook(server: grpc.aio.Server) -> None:
        pb_grpc.add_BreakwaterServicer_to_server(BreakwaterServicer(api, security), server)

    return hook


def _who(context: Context) -> str:
    """Who made a write, for the history: the token's holder at an address, or the address."""
    metadata = dict(context.invocation_metadata() or ())
    peer = str(context.peer())
    return f"token@{peer}" if metadata.get("authorization") else peer
