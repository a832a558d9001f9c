"""Breakwater's gRPC API (`breakwater.v1.Breakwater`), called through a real channel to the xDS port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import LOOPBACK
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from breakwater.xds_types import ROUTE_TYPE
from tests.support.admin import weights_url
from tests.support.ads import BlockingAdsClient
from tests.support.policies import GATEWAY, PolicyDir

TIMEOUT = 10.0


@pytest.fixture
def stub(plane: ControlPlaneThread) -> Iterator[Any]:
    with grpc.insecure_channel(f"{LOOPBACK}:{plane.xds_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        yield pb_grpc.BreakwaterStub(channel)


def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error: Any = raised.value
    return error.code(), error.details()


def test_get_set_and_reset_weights(stub: Any, plane: ControlPlaneThread) -> None:
    got = stub.GetWeights(pb.GetWeightsRequest(route="payments"), timeout=TIMEOUT)
    assert (got.route, got.rule, dict(got.weights), got.source, got.revision) == (
        "payments",
        0,
        {"stable": 90, "canary": 10},
        "yaml",
        0,
    )

    written = stub.SetWeights(
        pb.SetWeightsRequest(
            route="payments", weights={"stable": 60, "canary": 40}, expected_revision=0
        ),
        timeout=TIMEOUT,
    )
    assert dict(written.weights) == {"stable": 60, "canary": 40}
    assert written.source == "override"
    assert written.revision == 1
    # The two front ends share one state.
    http_view = http("GET", weights_url(plane.admin_url)).body
    assert http_view == {
        "route": "payments",
        "rule": 0,
        "weights": {"stable": 60, "canary": 40},
        "source": "override",
        "revision": 1,
        "rule_name": "split",
    }
    again = stub.GetWeights(pb.GetWeightsRequest(route="payments", rule=0), timeout=TIMEOUT)
    assert again == written

    reset = stub.ResetWeights(
        pb.ResetWeightsRequest(route="payments", expected_revision=1), timeout=TIMEOUT
    )
    assert (dict(reset.weights), reset.source, reset.revision) == (
        {"stable": 90, "canary": 10},
        "yaml",
        0,
    )
    status = stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
    assert status.state_revision == 2


def test_stale_revision_is_aborted(stub: Any) -> None:
    stub.SetWeights(
        pb.SetWeightsRequest(route="payments", weights={"stable": 60, "canary": 40}),
        timeout=TIMEOUT,
    )
    code, details = _code(
        lambda: stub.SetWeights(
            pb.SetWeightsRequest(
                route="payments", weights={"stable": 1, "canary": 1}, expected_revision=0
            ),
            timeout=TIMEOUT,
        )
    )
    assert code == grpc.StatusCode.ABORTED
    assert "current revision 1" in details
    code, _ = _code(
        lambda: stub.ResetWeights(
            pb.ResetWeightsRequest(route="payments", expected_revision=7), timeout=TIMEOUT
        )
    )
    assert code == grpc.StatusCode.ABORTED
    kept = stub.GetWeights(pb.GetWeightsRequest(route="payments"), timeout=TIMEOUT)
    assert dict(kept.weights) == {"stable": 60, "canary": 40}


def test_unknown_route_or_rule_is_not_found(stub: Any) -> None:
    calls = [
        lambda: stub.GetWeights(pb.GetWeightsRequest(route="orders"), timeout=TIMEOUT),
        lambda: stub.GetWeights(pb.GetWeightsRequest(route="payments", rule=4), timeout=TIMEOUT),
        lambda: stub.SetWeights(
            pb.SetWeightsRequest(route="orders", weights={"stable": 1}), timeout=TIMEOUT
        ),
        lambda: stub.ResetWeights(pb.ResetWeightsRequest(route="orders"), timeout=TIMEOUT),
    ]
    for call in calls:
        code, details = _code(call)
        assert code == grpc.StatusCode.NOT_FOUND, details
    code, details = _code(calls[0])
    assert details == "HTTPRoute 'orders' is not declared; declared routes: payments"


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        ({"stable": 75, "blue": 25}, "its backends: stable, canary"),
        ({"stable": -5, "canary": 10}, "weight of 'stable' is -5"),
        ({"stable": 0, "canary": 0}, "add up to 0"),
        ({"stable": 100}, "missing canary"),
    ],
    ids=["unknown-backend", "negative", "zero-sum", "missing-backend"],
)
def test_bad_weights_are_invalid_argument(stub: Any, weights: dict[str, int], words: str) -> None:
    code, details = _code(
        lambda: stub.SetWeights(
            pb.SetWeightsRequest(route="payments", weights=weights), timeout=TIMEOUT
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert words in details
    unchanged = stub.GetWeights(pb.GetWeightsRequest(route="payments"), timeout=TIMEOUT)
    assert unchanged.source == "yaml"


def test_status_and_policies(stub: Any, plane: ControlPlaneThread, policies: PolicyDir) -> None:
    with BlockingAdsClient(plane.xds_port, "probe-1") as probe:
        probe.request(ROUTE_TYPE, [GATEWAY])
        probe.recv(10.0)
        status = stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT)
        assert status.config_version
        assert (
            status.config_version
            == http("GET", f"{plane.admin_url}/v1/status").body["config_version"]
        )
        assert list(status.load_errors) == []
        assert list(status.dropped_overrides) == []
        [proxy] = status.proxies
        assert (proxy.node_id, proxy.node_cluster, proxy.protocol) == ("probe-1", "edge", "sotw")
        assert proxy.connected_at.seconds > 0
        [rds] = proxy.types
        assert rds.type_url.endswith("envoy.config.route.v3.RouteConfiguration")
        assert rds.sent_version and rds.sent_nonce
        assert rds.acked_version == ""
        assert rds.state == "stale"  # sent, not yet acknowledged

        listed = stub.ListPolicies(pb.ListPoliciesRequest(), timeout=TIMEOUT)
        by_name = {(p.kind, p.name): p for p in listed.policies}
        assert set(by_name) == {
            ("Service", "payments"),
            ("Gateway", "edge"),
            ("HTTPRoute", "payments"),
        }
        for document in listed.policies:
            assert document.valid and list(document.errors) == []
            assert document.file.startswith(str(policies.path))
            assert list(document.services) == ["payments"]
            assert list(document.proxies) == ["probe-1"]
