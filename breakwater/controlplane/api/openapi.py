"""The admin port's OpenAPI 3.1 document, served at `/openapi.json`, generated.

The schemas are the JSON schema of the API's models (OpenAPI 3.1 takes JSON
Schema as it is), the error responses come from the error table, and what
is left to say is the table of operations below: path, method, parameters,
what a success returns and which refusals it can answer with.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from breakwater.controlplane.api.config_models import ExplainResponse, RoutesResponse
from breakwater.controlplane.api.errors import ERRORS
from breakwater.controlplane.api.models import (
    ApiModel,
    DrainRequest,
    EndpointsResponse,
    ErrorResponse,
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
from breakwater.controlplane.api.security import Unauthorized
from breakwater.controlplane.fleet.status import PolicyNotFound
from breakwater.controlplane.rollouts.driver import RolloutNotFound
from breakwater.controlplane.rollouts.engine import CommandRefused, RolloutMoved
from breakwater.controlplane.rollouts.phases import COMMANDS
from breakwater.controlplane.state.controller import DrivenByRollout, NotReady
from breakwater.controlplane.state.history import HISTORY_LIMIT
from breakwater.controlplane.state.store import RevisionConflict, StoreError
from breakwater.translators.drains import DrainError, EndpointNotFound
from breakwater.translators.overrides import RouteNotFound, WeightError

_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Parameter:
    name: str
    where: Literal["path", "query"]
    schema: Mapping[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Operation:
    method: Literal["get", "put", "post", "delete"]
    path: str
    summary: str
    answer: type[ApiModel] | None
    """The model of a 200 answer; None for a document of its own (this one, the metrics)."""
    content_type: str = "application/json"
    ok: str = "OK"
    parameters: tuple[Parameter, ...] = ()
    body: type[ApiModel] | None = None
    refusals: tuple[type[Exception], ...] = ()
    """What it can refuse with besides a missing token (see `open`)."""
    other: Mapping[int, tuple[str, type[ApiModel]]] = field(default_factory=dict)
    """Answers that are not refusals: status → (meaning, model)."""
    open: bool = False
    """Answered without a token even when reads need one: the probes."""


_ROUTE = Parameter("route", "path", {"type": "string"}, "the HTTPRoute's name")
_REVISION = TypeAdapter(Revision).json_schema()
_RULE = Parameter(
    "rule", "query", _REVISION, "rule index; default: the first rule with more than one backend"
)
_EXPECTED = Parameter(
    "expectedRevision",
    "query",
    _REVISION,
    "when given, the reset succeeds only if the rule's override is still at this revision",
)
_ROLLOUT = Parameter("name", "path", {"type": "string"}, "the Rollout's name")
_READ_WEIGHTS = (WeightError, RouteNotFound, NotReady)
_WRITE_WEIGHTS = (*_READ_WEIGHTS, RevisionConflict, DrivenByRollout, StoreError)
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
_WRITE_DRAIN = (DrainError, EndpointNotFound, NotReady, RevisionConflict, StoreError)

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/openapi.json", "this document", None),
    Operation("get", "/healthz", "the process is alive", Health, open=True),
    Operation(
        "get",
        "/readyz",
        "policies loaded and the xDS server listening",
        Health,
        other={503: ("not ready; `reason` says why", Health)},
        open=True,
    ),
    Operation(
        "get", "/metrics", "Prometheus metrics", None, "text/plain", "text exposition format"
    ),
    Operation(
        "get", "/v1/status", "connected proxies and their sync state per xDS type", StatusResponse
    ),
    Operation(
        "get",
        "/v1/snapshots",
        "what every node group is served: its gateways and each Envoy resource as JSON "
        "(what `breakwater diff` compares a candidate directory with)",
        SnapshotsResponse,
    ),
    Operation(
        "get",
        "/v1/policies",
        "every policy document, valid or not, with its errors",
        PoliciesResponse,
    ),
    Operation(
        "get",
        "/v1/policies/{name}",
        "one ResiliencePolicy: its scope, the proxies holding it, what it is doing now",
        PolicyStatus,
        parameters=(Parameter("name", "path", {"type": "string"}, "the ResiliencePolicy's name"),),
        refusals=(PolicyNotFound,),
    ),
    Operation(
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
        refusals=(WeightError,),
    ),
    Operation(
        "get",
        "/v1/rollouts",
        "every Rollout: phase, step, weights, analyses, history",
        RolloutsResponse,
    ),
    Operation(
        "get",
        "/v1/rollouts/{name}",
        "one Rollout",
        RolloutStatus,
        parameters=(_ROLLOUT,),
        refusals=(RolloutNotFound,),
    ),
    Operation(
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
        refusals=(RolloutNotFound, CommandRefused, RolloutMoved, WeightError, StoreError),
    ),
    Operation(
        "get",
        "/v1/routes",
        "every HTTPRoute served, each rule with its backends, the weights Envoy is sent, where "
        "they come from, the revision a write must name, and the Rollout driving it",
        RoutesResponse,
    ),
    Operation(
        "get",
        _WEIGHTS,
        "effective weights of a rule",
        Weights,
        ok=_WEIGHTS_OK,
        parameters=(_ROUTE, _RULE),
        refusals=_READ_WEIGHTS,
    ),
    Operation(
        "put",
        _WEIGHTS,
        "override the weights of a rule (durable before the answer)",
        Weights,
        ok=_WEIGHTS_OK,
        parameters=(_ROUTE,),
        body=SetWeightsRequest,
        refusals=_WRITE_WEIGHTS,
    ),
    Operation(
        "delete",
        _WEIGHTS,
        "drop the override so the YAML weights apply again",
        Weights,
        ok=_WEIGHTS_OK,
        parameters=(_ROUTE, _RULE, _EXPECTED),
        refusals=_WRITE_WEIGHTS,
    ),
    Operation(
        "get",
        "/v1/services/{service}/endpoints",
        "a service's endpoints, which are drained, by whom and when",
        EndpointsResponse,
        parameters=(_SERVICE,),
        refusals=(EndpointNotFound, NotReady),
    ),
    Operation(
        "get",
        "/v1/services/{service}/explain",
        "each effective setting of the service's clusters and of the route rules sending to it: "
        "its value, who set it, the Envoy field it becomes and where Envoy's meaning differs",
        ExplainResponse,
        parameters=(_SERVICE,),
        refusals=(EndpointNotFound, NotReady),
    ),
    Operation(
        "put",
        _DRAIN,
        "drain an endpoint: Envoy sends it no new requests, those in flight finish (durable "
        "before the answer); the body is optional",
        ServiceEndpoint,
        parameters=(_SERVICE, _ENDPOINT),
        body=DrainRequest,
        refusals=_WRITE_DRAIN,
    ),
    Operation(
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
    ),
)

OPEN_PATHS = frozenset(op.path for op in OPERATIONS if op.open)
"""Paths that never ask for a token, so that probes keep working when reads are protected."""


def _content(content_type: str, model: type[ApiModel] | None) -> dict[str, Any]:
    if model is None:
        schema: dict[str, Any] = {"type": "object"} if content_type == "application/json" else {}
    else:
        schema = {"$ref": _REF.format(model=model.__name__)}
    return {content_type: {"schema": schema} if schema else {}}


def _responses(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": op.ok, "content": _content(op.content_type, op.answer)}
    }
    for status, (meaning, model) in op.other.items():
        responses[str(status)] = {
            "description": meaning,
            "content": _content(op.content_type, model),
        }
    refusals: tuple[type[Exception], ...] = op.refusals if op.open else (Unauthorized, *op.refusals)
    meanings: dict[int, list[str]] = {}
    for kind in refusals:
        rule = ERRORS[kind]
        meanings.setdefault(rule.http_status, []).append(rule.meaning)
    for status, said in sorted(meanings.items()):
        responses[str(status)] = {
            "description": "; ".join(said),
            "content": _content("application/json", ErrorResponse),
        }
    return responses


def _operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "responses": _responses(op)}
    if op.parameters:
        out["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path",
                "schema": dict(p.schema),
                **({"description": p.description} if p.description else {}),
            }
            for p in op.parameters
        ]
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": _content("application/json", op.body)}
    return out


@functools.cache
def openapi_document() -> dict[str, Any]:
    # The components: every model an operation answers with or takes, and what they contain.
    models: dict[type[ApiModel], None] = {ErrorResponse: None}
    for op in OPERATIONS:
        for model in (op.answer, op.body, *(m for _, m in op.other.values())):
            if model is not None:
                models[model] = None
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=_REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Breakwater admin API", "version": "v1"},
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {})},
    }
