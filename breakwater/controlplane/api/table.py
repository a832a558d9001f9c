"""Every operation of the admin API, declared once: the HTTP routes, the OpenAPI document,
the gRPC service's reads and writes and the client's calls are all made from this table.

An operation names its handler (`AdminApp.<name>`, and the client's
`call(server, "<name>", ...)`), its method and path, its parameters, the model
it takes and the one it answers with, the refusals it can answer with (named
after the error table's exceptions, `errors.ERRORS`, which `openapi` looks them
up in) and its gRPC method. Only Pydantic and the models are imported, so that
the CLI reads the table without loading the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter

from breakwater.controlplane.api.config_models import ExplainResponse, RoutesResponse
from breakwater.controlplane.api.instance_models import (
    InstancesResponse,
    RegisteredInstance,
    RegisterRequest,
)
from breakwater.controlplane.api.models import (
    ApiModel,
    DrainRequest,
    EndpointsResponse,
    Health,
    PolicyStatus,
    Revision,
    ServiceEndpoint,
    SetWeightsRequest,
    StatusResponse,
    Weights,
)
from breakwater.controlplane.api.policy_models import PoliciesResponse, SnapshotsResponse
from breakwater.controlplane.api.rollout_models import (
    ROLLOUT_PHASES,
    ChangesResponse,
    RolloutsResponse,
    RolloutStatus,
)
from breakwater.controlplane.rollouts.phases import COMMANDS
from breakwater.controlplane.state.history import HISTORY_LIMIT

Method = Literal["get", "put", "post", "delete"]


@dataclass(frozen=True)
class Parameter:
    name: str
    where: Literal["path", "query"]
    schema: Mapping[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Operation:
    name: str
    """The admin app's handler and the client's name for the call."""
    method: Method
    path: str
    summary: str
    answer: type[ApiModel] | None
    """The model of a 200 answer; None for a document of its own (the OpenAPI one, metrics)."""
    content_type: str = "application/json"
    ok: str = "OK"
    parameters: tuple[Parameter, ...] = ()
    body: type[ApiModel] | None = None
    refusals: tuple[str, ...] = ()
    """What it can refuse with besides a missing token (see `open`): exception names of the
    error table."""
    other: Mapping[int, tuple[str, type[ApiModel]]] = field(default_factory=dict)
    """Answers that are not refusals: status → (meaning, model)."""
    open: bool = False
    """Answered without a token even when reads need one: the probes."""
    grpc: str | None = None
    """The method of `breakwater.v1.Breakwater` that does the same, if any."""

    @property
    def writes(self) -> bool:
        """A write needs the write token, a JSON body, and goes into the history."""
        return self.method != "get"


_ROUTE = Parameter("route", "path", {"type": "string"}, "the HTTPRoute's name")
_REVISION = TypeAdapter(Revision).json_schema()
_RULE = Parameter(
    "rule",
    "query",
    {"anyOf": [_REVISION, {"type": "string", "minLength": 1}]},
    "the rule's index or name; default: the first rule with more than one backend",
)
_EXPECTED = Parameter(
    "expectedRevision",
    "query",
    _REVISION,
    "when given, the reset succeeds only if the rule's override is still at this revision",
)
_ROLLOUT = Parameter("name", "path", {"type": "string"}, "the Rollout's name")
_READ_WEIGHTS = ("BadRequest", "WeightError", "RouteNotFound", "NotReady")
_WRITE_WEIGHTS = (*_READ_WEIGHTS, "RevisionConflict", "DrivenByRollout", "StoreError")
_WEIGHTS_OK = "the rule's effective weights"
_WEIGHTS = "/v1/routes/{route}/weights"
_SERVICE = Parameter("service", "path", {"type": "string"}, "the Service's name")
_ENDPOINT = Parameter(
    "endpoint",
    "path",
    {"type": "string"},
    "ADDRESS:PORT as the Service lists it ([ADDRESS]:PORT for IPv6)",
)
_DRAIN = "/v1/services/{service}/endpoints/{endpoint}/drain"
_WRITE_DRAIN = (
    "BadRequest",
    "DrainError",
    "EndpointNotFound",
    "NotReady",
    "RevisionConflict",
    "StoreError",
)
_INSTANCES = "/v1/services/{service}/instances"
_INSTANCE = Parameter(
    "instance",
    "path",
    {"type": "string"},
    "the instance's ADDRESS:PORT ([ADDRESS]:PORT for IPv6): the IP address Envoy connects to",
)
_WRITE_INSTANCE = (
    "BadRequest",
    "RegistrationError",
    "EndpointNotFound",
    "NotRegistrable",
    "NotReady",
    "StoreError",
)

OPERATIONS: tuple[Operation, ...] = (
    Operation("openapi", "get", "/openapi.json", "this document", None),
    Operation("healthz", "get", "/healthz", "the process is alive", Health, open=True),
    Operation(
        "readyz",
        "get",
        "/readyz",
        "policies loaded and the xDS server listening",
        Health,
        other={503: ("not ready; `reason` says why", Health)},
        open=True,
    ),
    Operation(
        "metrics",
        "get",
        "/metrics",
        "Prometheus metrics",
        None,
        "text/plain",
        "text exposition format",
    ),
    Operation(
        "status",
        "get",
        "/v1/status",
        "connected proxies and their sync state per xDS type",
        StatusResponse,
        grpc="GetStatus",
    ),
    Operation(
        "snapshots",
        "get",
        "/v1/snapshots",
        "what every node group is served: its gateways and each Envoy resource as JSON "
        "(what `breakwater diff` compares a candidate directory with)",
        SnapshotsResponse,
        grpc="ListSnapshots",
    ),
    Operation(
        "policies",
        "get",
        "/v1/policies",
        "every policy document, valid or not, with its errors",
        PoliciesResponse,
        grpc="ListPolicies",
    ),
    Operation(
        "policy",
        "get",
        "/v1/policies/{name}",
        "one ResiliencePolicy: its scope, the proxies holding it, what it is doing now",
        PolicyStatus,
        parameters=(Parameter("name", "path", {"type": "string"}, "the ResiliencePolicy's name"),),
        refusals=("PolicyNotFound",),
        grpc="GetPolicy",
    ),
    Operation(
        "changes",
        "get",
        "/v1/events",
        "what changed traffic, newest first: weight writes, rollout steps and decisions, policy "
        "reloads, each with when, who, and before and after",
        ChangesResponse,
        parameters=(
            Parameter("route", "query", {"type": "string"}, "only the changes of this HTTPRoute"),
            Parameter(
                "limit",
                "query",
                {"type": "integer", "minimum": 1, "maximum": HISTORY_LIMIT},
                "at most this many (default 100)",
            ),
        ),
        refusals=("BadRequest",),
        grpc="ListEvents",
    ),
    Operation(
        "list_rollouts",
        "get",
        "/v1/rollouts",
        "every Rollout: phase, step, weights, analyses, history",
        RolloutsResponse,
        grpc="ListRollouts",
    ),
    Operation(
        "rollout",
        "get",
        "/v1/rollouts/{name}",
        "one Rollout",
        RolloutStatus,
        parameters=(_ROLLOUT,),
        refusals=("RolloutNotFound",),
        grpc="GetRollout",
    ),
    Operation(
        "rollout_command",
        "post",
        "/v1/rollouts/{name}/{command}",
        "promote (finish the current step), pause, resume, abort (all traffic to stable) or "
        "retry (start a rolled back or aborted rollout again)",
        RolloutStatus,
        parameters=(
            _ROLLOUT,
            Parameter("command", "path", {"type": "string", "enum": list(COMMANDS)}, "what to do"),
            Parameter(
                "expectedPhase",
                "query",
                {"type": "string", "enum": list(ROLLOUT_PHASES)},
                "when given, the command runs only if the rollout is still in this phase",
            ),
            Parameter(
                "expectedStep",
                "query",
                {"type": "integer", "minimum": 0},
                "when given, the command runs only if the rollout is still at this step",
            ),
        ),
        refusals=("RolloutNotFound", "CommandRefused", "RolloutMoved", "BadRequest", "StoreError"),
        grpc="RolloutCommand",
    ),
    Operation(
        "routes",
        "get",
        "/v1/routes",
        "every HTTPRoute served, each rule with its backends, the weights Envoy is sent, where "
        "they come from, the revision a write must name, and the Rollout driving it",
        RoutesResponse,
        grpc="ListRoutes",
    ),
    Operation(
        "get_weights",
        "get",
        _WEIGHTS,
        "effective weights of a rule",
        Weights,
        ok=_WEIGHTS_OK,
        parameters=(_ROUTE, _RULE),
        refusals=_READ_WEIGHTS,
        grpc="GetWeights",
    ),
    Operation(
        "set_weights",
        "put",
        _WEIGHTS,
        "override the weights of a rule (durable before the answer)",
        Weights,
        ok=_WEIGHTS_OK,
        parameters=(_ROUTE,),
        body=SetWeightsRequest,
        refusals=_WRITE_WEIGHTS,
        grpc="SetWeights",
    ),
    Operation(
        "reset_weights",
        "delete",
        _WEIGHTS,
        "drop the override so the YAML weights apply again",
        Weights,
        ok=_WEIGHTS_OK,
        parameters=(_ROUTE, _RULE, _EXPECTED),
        refusals=_WRITE_WEIGHTS,
        grpc="ResetWeights",
    ),
    Operation(
        "endpoints",
        "get",
        "/v1/services/{service}/endpoints",
        "a service's endpoints, which are drained, by whom and when",
        EndpointsResponse,
        parameters=(_SERVICE,),
        refusals=("EndpointNotFound", "NotReady"),
        grpc="ListEndpoints",
    ),
    Operation(
        "explain",
        "get",
        "/v1/services/{service}/explain",
        "each effective setting of the service's clusters and of the route rules sending to it: "
        "its value, who set it, the Envoy field it becomes and where Envoy's meaning differs",
        ExplainResponse,
        parameters=(_SERVICE,),
        refusals=("EndpointNotFound", "NotReady"),
        grpc="ExplainService",
    ),
    Operation(
        "drain",
        "put",
        _DRAIN,
        "drain an endpoint: Envoy sends it no new requests, those in flight finish (durable "
        "before the answer); the body is optional",
        ServiceEndpoint,
        parameters=(_SERVICE, _ENDPOINT),
        body=DrainRequest,
        refusals=_WRITE_DRAIN,
        grpc="DrainEndpoint",
    ),
    Operation(
        "undrain",
        "delete",
        _DRAIN,
        "undrain an endpoint: back in rotation (or forget the drain of one the YAML dropped)",
        ServiceEndpoint,
        parameters=(
            _SERVICE,
            _ENDPOINT,
            Parameter(
                "expectedRevision",
                "query",
                _REVISION,
                "when given, the undrain succeeds only if the drain is still at this revision",
            ),
        ),
        refusals=_WRITE_DRAIN,
        grpc="UndrainEndpoint",
    ),
    Operation(
        "list_instances",
        "get",
        _INSTANCES,
        "the instances registered with a Service that takes registrations: labels, zone, "
        "state, when each registered and last renewed, when it expires",
        InstancesResponse,
        parameters=(_SERVICE,),
        refusals=("EndpointNotFound", "NotRegistrable", "NotReady"),
        grpc="ListInstances",
    ),
    Operation(
        "register_instance",
        "put",
        _INSTANCES + "/{instance}",
        "register an instance, or renew it (the same PUT again, within its TTL); durable "
        "before the answer. The body is optional: labels, zone, weight, ttl",
        RegisteredInstance,
        parameters=(_SERVICE, _INSTANCE),
        body=RegisterRequest,
        refusals=(*_WRITE_INSTANCE, "InstanceLimit"),
        grpc="RegisterInstance",
    ),
    Operation(
        "deregister_instance",
        "delete",
        _INSTANCES + "/{instance}",
        "deregister an instance: it drains (no new requests, those in flight finish) for the "
        "Service's drainTime, then leaves",
        RegisteredInstance,
        parameters=(_SERVICE, _INSTANCE),
        refusals=_WRITE_INSTANCE,
        grpc="DeregisterInstance",
    ),
)

BY_NAME: Mapping[str, Operation] = {op.name: op for op in OPERATIONS}
BY_GRPC: Mapping[str, Operation] = {op.grpc: op for op in OPERATIONS if op.grpc is not None}
OPEN_PATHS = frozenset(op.path for op in OPERATIONS if op.open)
"""Paths that never ask for a token, so that probes keep working when reads are protected."""
