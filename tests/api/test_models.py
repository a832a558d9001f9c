"""The API's models against the surfaces that derive from them, without a server.

The protobuf messages may only carry fields the models define, under the
same names; the error table gives each refusal one HTTP status, one gRPC
code and one sentence; `/v1/policies` reads the same graph the snapshots are
built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import grpc
import pytest
from pydantic import BaseModel

from breakwater.cli.tables import format_status
from breakwater.client import ApiError
from breakwater.controlplane.api import models
from breakwater.controlplane.api.config_models import ExplainResponse, RoutesResponse
from breakwater.controlplane.api.errors import ERRORS, HANDLED, refusal
from breakwater.controlplane.api.grpc_service import to_message
from breakwater.controlplane.api.models import (
    EndpointsResponse,
    ProxyStatus,
    StatusResponse,
    StoreStatus,
    Weights,
)
from breakwater.controlplane.api.operations import ControlPlaneApi
from breakwater.controlplane.api.policy_models import PoliciesResponse
from breakwater.controlplane.api.security import TOKEN_REFUSED, UNAUTHORIZED, Unauthorized
from breakwater.controlplane.state.controller import NotReady, PolicyController
from breakwater.controlplane.state.store import RevisionConflict, SqliteStore, StoreError
from breakwater.controlplane.xds import status as server
from breakwater.translators.overrides import RouteNotFound, WeightError
from breakwater.v1 import breakwater_pb2 as pb
from tests.api.test_client_tables import FLEET

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"

# --- the gRPC messages are a view of the models ----------------------------------------------

RESPONSES: list[tuple[type[BaseModel], Any]] = [
    (StatusResponse, pb.GetStatusResponse),
    (PoliciesResponse, pb.ListPoliciesResponse),
    (Weights, pb.Weights),
    (EndpointsResponse, pb.EndpointsResponse),
    (RoutesResponse, pb.RoutesResponse),
    (ExplainResponse, pb.ExplainResponse),
]

HTTP_ONLY = {
    "StatusResponse": {"replicas", "store", "policy_version", "store_error"},
    "ProxyStatus": {"gateways", "peer", "synced"},
    "TypeSyncState": {"type", "resources", "target_version", "sends", "nacks"},
    "PolicyDocument": {"route_status"},
}
"""What GetStatus does not carry (yet): a field added to a model goes into the .proto or here."""


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _compare(model: type[BaseModel], descriptor: Any, seen: list[str]) -> None:
    seen.append(model.__name__)
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    declared = {f.name: f for f in descriptor.fields}
    assert set(declared) <= set(fields), (
        f"{descriptor.full_name} has {sorted(set(declared) - set(fields))}, "
        f"which {model.__name__} does not define"
    )
    assert set(fields) - set(declared) == HTTP_ONLY.get(model.__name__, set()), model.__name__
    for name, proto_field in declared.items():
        message = proto_field.message_type
        if (
            message is None
            or message.GetOptions().map_entry
            or message.full_name in ("google.protobuf.Timestamp", "google.protobuf.Value")
        ):
            continue
        inner = _nested_model(fields[name].annotation)
        assert inner is not None, f"{model.__name__}.{name} is a message in the .proto"
        _compare(inner, message, seen)


@pytest.mark.parametrize(("model", "message"), RESPONSES, ids=lambda m: getattr(m, "__name__", ""))
def test_every_message_field_is_a_model_field_of_the_same_name(model: Any, message: Any) -> None:
    seen: list[str] = []
    _compare(model, message.DESCRIPTOR, seen)
    assert seen[0] == model.__name__


def test_a_status_fills_its_message_with_a_timestamp_and_every_shared_field() -> None:
    status = StatusResponse.model_validate(FLEET)
    message = to_message(status, pb.GetStatusResponse)
    [proxy] = message.proxies
    assert proxy.connected_at.seconds == 1796151619
    assert proxy.connected_at.nanos == 250_000_000
    assert (proxy.node_id, proxy.protocol, proxy.types[1].nack_message) == (
        "edge-1",
        "delta",
        "too big",
    )
    assert message.state_revision == 7
    assert list(message.load_errors) == FLEET["load_errors"]
    [dropped] = message.dropped_overrides
    assert dict(dropped.weights) == {"stable": 70, "canary": 30}


def test_the_literals_repeated_for_the_cli_are_the_xds_servers() -> None:
    assert get_args(models.SyncState) == get_args(server.SyncState)
    assert get_args(models.Mode) == get_args(server.Mode)


def test_the_cli_says_in_a_sentence_when_an_answer_is_not_a_status() -> None:
    with pytest.raises(ApiError, match=r"not a StatusResponse: proxies: Field required\. Is"):
        format_status({k: v for k, v in FLEET.items() if k != "proxies"})


# --- one error table --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "http_status", "code", "text"),
    [
        (Unauthorized(), 401, grpc.StatusCode.UNAUTHENTICATED, UNAUTHORIZED),
        (Unauthorized(refused=True), 401, grpc.StatusCode.UNAUTHENTICATED, TOKEN_REFUSED),
        (WeightError("bad"), 400, grpc.StatusCode.INVALID_ARGUMENT, "bad"),
        (RouteNotFound("gone"), 404, grpc.StatusCode.NOT_FOUND, "gone"),
        (
            RevisionConflict("payments/0", 0, 3),
            409,
            grpc.StatusCode.ABORTED,
            "payments/0 is at revision 3, not 0: someone else changed it; read it again and "
            "retry with the current revision (current revision 3)",
        ),
        (NotReady("not yet"), 503, grpc.StatusCode.UNAVAILABLE, "not yet"),
        (
            StoreError("disk full"),
            503,
            grpc.StatusCode.UNAVAILABLE,
            "the write was not saved: disk full",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_each_refusal_has_one_status_one_code_and_one_sentence(
    exc: Exception, http_status: int, code: grpc.StatusCode, text: str
) -> None:
    assert isinstance(exc, HANDLED)
    rule, answer = refusal(exc)
    assert (rule.http_status, rule.grpc_code, answer.as_text()) == (http_status, code, text)
    assert text.startswith(answer.error)


def test_the_http_answer_of_a_stale_revision_carries_the_current_one() -> None:
    _, answer = refusal(RevisionConflict("payments/0", 0, 3))
    assert answer.to_json()["current_revision"] == 3
    _, plain = refusal(WeightError("bad"))
    assert plain.to_json() == {"error": "bad"}
    assert set(ERRORS) == set(HANDLED)


# --- /v1/policies reads the snapshot's graph ------------------------------------------------------


def _proxy(node_id: str, gateways: list[str]) -> ProxyStatus:
    return ProxyStatus(
        node_id=node_id,
        node_cluster="edge",
        protocol="sotw",
        group=node_id,
        gateways=gateways,
        peer="",
        connected_at=0.0,
        synced=True,
        types=[],
        user_agent="envoy",
        proxyless=False,
    )


async def _policies(directory: Path, state: Path, proxies: list[ProxyStatus]) -> PoliciesResponse:
    store = SqliteStore(state)
    try:
        controller = PolicyController(directory, store)
        assert await controller.reload()
        api = ControlPlaneApi(
            controller,
            lambda: proxies,
            lambda: "",
            replicas=lambda: [],
            store=lambda: StoreStatus(available=True).to_json(),
        )
        return api.policies()
    finally:
        await store.close()


async def test_policies_reach_the_proxies_that_get_their_clusters(tmp_path: Path) -> None:
    proxies = [
        _proxy("edge-1", ["edge"]),
        _proxy("internal-1", ["internal"]),
        _proxy("both-1", ["edge", "internal"]),
        _proxy("none-1", []),
    ]
    answer = await _policies(EXAMPLES, tmp_path / "state", proxies)
    reach = {(d.kind, d.name): (d.services, d.proxies) for d in answer.policies}
    assert reach[("HTTPRoute", "payments")] == (
        ["payments", "payments-shadow"],
        ["both-1", "edge-1"],
    )
    assert reach[("Gateway", "internal")] == (["catalog", "ledger"], ["both-1", "internal-1"])
    assert reach[("Service", "ledger")] == (["ledger"], ["both-1", "internal-1"])
    assert reach[("ResiliencePolicy", "fleet-default")][1] == ["both-1", "edge-1", "internal-1"]
    # A failover target is a cluster of the proxies whose routes reach its primary.
    assert reach[("Service", "payments-fallback")] == (["payments-fallback"], ["both-1", "edge-1"])
    # So is a mirror: the route copies traffic to it, and Envoy needs its cluster.
    assert reach[("Service", "payments-shadow")] == (["payments-shadow"], ["both-1", "edge-1"])
    # A collector is a cluster of the proxies whose gateways export to it, named by no route.
    assert reach[("Service", "otel-collector")] == (["otel-collector"], ["both-1", "edge-1"])
    assert reach[("Telemetry", "fleet")] == (["otel-collector"], ["both-1", "edge-1", "internal-1"])
    assert reach[("Telemetry", "internal")] == ([], ["both-1", "internal-1"])
    assert reach[("Telemetry", "payments")] == ([], ["both-1", "edge-1"])


async def test_a_gateway_without_routes_still_reaches_its_proxies(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for name in ("services.yaml", "gateways.yaml"):
        (policies / name).write_text((EXAMPLES / name).read_text())
    answer = await _policies(policies, tmp_path / "state", [_proxy("edge-1", ["edge"])])
    reach = {(d.kind, d.name): (d.services, d.proxies) for d in answer.policies}
    assert reach[("Gateway", "edge")] == ([], ["edge-1"])
    assert reach[("Service", "payments")] == (["payments"], [])
