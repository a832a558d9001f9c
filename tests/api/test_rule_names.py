"""A rule is named by its name or its index, in the CLI, over HTTP and over gRPC, as a
Rollout's `routeRef.rule` names it; the answer keeps the index and adds the name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from breakwater.client import http, path_of
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import LOOPBACK
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from tests.api.cli import run_cli
from tests.support.admin import weights_url

UNKNOWN = (
    "HTTPRoute 'payments' has no rule named 'nope'; its rules: split (0). "
    "Name a rule by its name or its index"
)


def _url(plane: ControlPlaneThread, **params: object) -> str:
    return plane.admin_url + path_of("get_weights", {"route": "payments", **params})[1]


def test_http_takes_a_rule_by_name(plane: ControlPlaneThread) -> None:
    got = http("GET", _url(plane, rule="split"))
    assert got.status == 200, got.text
    assert got.body["rule"] == 0
    assert got.body["rule_name"] == "split"
    assert http("GET", _url(plane, rule="0")).body == got.body

    body = {"weights": {"stable": 70, "canary": 30}, "rule": "split"}
    written = http("PUT", weights_url(plane.admin_url), body)
    assert written.status == 200, written.text
    assert (written.body["rule"], written.body["source"]) == (0, "override")

    reset = http("DELETE", _url(plane, rule="split"))
    assert reset.status == 200, reset.text
    assert reset.body["source"] == "yaml"


def test_an_unknown_rule_name_is_a_404_listing_the_names(plane: ControlPlaneThread) -> None:
    missing = http("GET", _url(plane, rule="nope"))
    assert missing.status == 404
    assert missing.body["error"] == UNKNOWN
    body = {"weights": {"stable": 70, "canary": 30}, "rule": "nope"}
    refused = http("PUT", weights_url(plane.admin_url), body)
    assert (refused.status, refused.body["error"]) == (404, UNKNOWN)


@pytest.fixture
def stub(plane: ControlPlaneThread) -> Iterator[Any]:
    with grpc.insecure_channel(f"{LOOPBACK}:{plane.xds_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield pb_grpc.BreakwaterStub(channel)


def test_grpc_takes_a_rule_by_name(stub: Any) -> None:
    got = stub.GetWeights(pb.GetWeightsRequest(route="payments", rule_name="split"), timeout=10)
    assert (got.rule, got.rule_name) == (0, "split")
    written = stub.SetWeights(
        pb.SetWeightsRequest(
            route="payments", rule_name="split", weights={"stable": 60, "canary": 40}
        ),
        timeout=10,
    )
    assert written.source == "override"
    reset = stub.ResetWeights(pb.ResetWeightsRequest(route="payments", rule_name="split"))
    assert reset.source == "yaml"
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetWeights(pb.GetWeightsRequest(route="payments", rule_name="nope"), timeout=10)
    error: Any = raised.value
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, UNKNOWN)


def test_the_cli_takes_a_rule_by_name_or_index(plane: ControlPlaneThread) -> None:
    server = ("--server", plane.admin_url)
    by_name = run_cli("weights", "get", "payments", "--rule", "split", *server)
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout.startswith("route payments rule split (index 0, from yaml"), (
        by_name.stdout
    )
    by_index = run_cli("weights", "get", "payments", "--rule", "0", *server)
    assert by_index.stdout == by_name.stdout
    written = run_cli(
        "weights", "set", "payments", "stable=50", "canary=50", "--rule", "split", *server
    )
    assert written.returncode == 0, written.stderr
    reset = run_cli("weights", "reset", "payments", "--rule", "split", *server)
    assert reset.returncode == 0, reset.stderr
    unknown = run_cli("weights", "get", "payments", "--rule", "nope", *server)
    assert unknown.returncode == 1
    assert UNKNOWN in unknown.stderr
