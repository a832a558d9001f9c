"""Endpoint drains through the HTTP and gRPC APIs, against the real control plane and its store.

No Envoy here (the end-to-end test has one): an ADS client stands in for a
proxy where a test needs to see what EDS sends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.config.endpoint.v3 import endpoint_pb2

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.waiting import wait_until
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from breakwater.xds_types import ENDPOINT_TYPE
from tests.support.ads import BlockingAdsClient
from tests.support.policies import PolicyDir

TIMEOUT = 10.0


def _endpoints(plane: ControlPlaneThread) -> list[dict[str, Any]]:
    reply = http("GET", f"{plane.admin_url}/v1/services/payments/endpoints")
    assert reply.status == 200, reply.text
    found: list[dict[str, Any]] = reply.body["endpoints"]
    return found


def _drain_url(plane: ControlPlaneThread, endpoint: str) -> str:
    return f"{plane.admin_url}/v1/services/payments/endpoints/{endpoint}/drain"


def _eds_health(client: BlockingAdsClient) -> dict[int, int]:
    """Port → health_status of every endpoint of `payments|stable` and `payments|canary`."""
    client.request(ENDPOINT_TYPE, ["payments|stable", "payments|canary"])
    response = client.recv()
    health: dict[int, int] = {}
    for resource in response.resources:
        assignment = endpoint_pb2.ClusterLoadAssignment()
        resource.Unpack(assignment)
        for locality in assignment.endpoints:
            for lb in locality.lb_endpoints:
                port = lb.endpoint.address.socket_address.port_value
                health[port] = lb.health_status
    return health


def test_list_drain_and_undrain_with_compare_and_set(
    plane: ControlPlaneThread, policies: PolicyDir
) -> None:
    stable = f"127.0.0.1:{policies.stable_port}"
    canary = f"127.0.0.1:{policies.canary_port}"
    assert [(e["endpoint"], e["drained"], e["revision"]) for e in _endpoints(plane)] == [
        (stable, False, 0),
        (canary, False, 0),
    ]

    drained = http("PUT", _drain_url(plane, stable), {"expectedRevision": 0})
    assert drained.status == 200, drained.text
    assert drained.body["drained"] is True
    assert drained.body["drained_by"] == "127.0.0.1"
    revision = drained.body["revision"]
    assert revision >= 1

    # Someone drained it meanwhile: a write that expects it undrained is refused.
    stale = http("PUT", _drain_url(plane, stable), {"expectedRevision": 0})
    assert stale.status == 409, stale.text
    assert stale.body["current_revision"] == revision

    status = http("GET", f"{plane.admin_url}/v1/status").body
    [entry] = status["drained_endpoints"]
    assert (entry["service"], entry["endpoint"], entry["drained"], entry["drained_by"]) == (
        "payments",
        stable,
        True,
        "127.0.0.1",
    )
    events = http("GET", f"{plane.admin_url}/v1/events").body["events"]
    assert events[0]["what"] == f"endpoint {stable} of payments drained"
    assert (events[0]["who"], events[0]["before"], events[0]["after"]) == (
        "127.0.0.1",
        "serving",
        "draining",
    )

    stale_undrain = http("DELETE", _drain_url(plane, stable) + f"?expectedRevision={revision - 1}")
    assert stale_undrain.status == 409, stale_undrain.text
    undrained = http("DELETE", _drain_url(plane, stable) + f"?expectedRevision={revision}")
    assert undrained.status == 200, undrained.text
    assert (undrained.body["drained"], undrained.body["revision"]) == (False, 0)
    assert "drained_by" not in undrained.body
    assert http("GET", f"{plane.admin_url}/v1/status").body["drained_endpoints"] == []


def test_draining_an_endpoint_the_service_lacks_is_404_listing_its_endpoints(
    plane: ControlPlaneThread, policies: PolicyDir
) -> None:
    reply = http("PUT", _drain_url(plane, "10.9.9.9:80"), None)
    assert reply.status == 404, reply.text
    assert reply.body["error"] == (
        "Service 'payments' has no endpoint 10.9.9.9:80; its endpoints: "
        f"127.0.0.1:{policies.stable_port}, 127.0.0.1:{policies.canary_port}"
    )
    unknown = http("GET", f"{plane.admin_url}/v1/services/orders/endpoints")
    assert unknown.status == 404, unknown.text
    assert unknown.body["error"] == "Service 'orders' is not declared; declared services: payments"
    malformed = http("PUT", _drain_url(plane, "payments-0"), None)
    assert malformed.status == 400, malformed.text
    assert "is not ADDRESS:PORT" in malformed.body["error"]
    assert http("GET", f"{plane.admin_url}/v1/status").body["drained_endpoints"] == []


def test_a_drain_is_sent_as_draining_in_eds_and_survives_a_restart(
    policies: PolicyDir, state_dir: Path
) -> None:
    stable = f"127.0.0.1:{policies.stable_port}"
    with ControlPlaneThread(policies.path, state_dir) as plane:
        assert http("PUT", _drain_url(plane, stable), None).status == 200
    with ControlPlaneThread(policies.path, state_dir) as plane:
        [drained] = [e for e in _endpoints(plane) if e["drained"]]
        assert drained["endpoint"] == stable
        with BlockingAdsClient(plane.xds_port) as client:
            health = _eds_health(client)
        assert health == {policies.stable_port: 3, policies.canary_port: 0}  # DRAINING, UNKNOWN


def test_a_drain_the_yaml_no_longer_fits_is_kept_listed_and_can_be_undrained(
    plane: ControlPlaneThread, policies: PolicyDir
) -> None:
    old = f"127.0.0.1:{policies.stable_port}"
    assert http("PUT", _drain_url(plane, old), None).status == 200
    policies = dataclasses.replace(policies, stable_port=policies.stable_port + 1000)
    policies.write()
    new = f"127.0.0.1:{policies.stable_port}"

    def reloaded() -> list[dict[str, Any]]:
        found = _endpoints(plane)
        return found if found[0]["endpoint"] == new else []

    listed = wait_until(reloaded, 5.0, "the edited Service to be served")
    assert [(e["endpoint"], e["in_service"], e["drained"]) for e in listed] == [
        (new, True, False),
        (f"127.0.0.1:{policies.canary_port}", True, False),
        (old, False, False),
    ]
    [kept] = http("GET", f"{plane.admin_url}/v1/status").body["drained_endpoints"]
    assert (kept["endpoint"], kept["drained"]) == (old, False)
    assert http("DELETE", _drain_url(plane, old)).status == 200
    assert [e["endpoint"] for e in _endpoints(plane)] == [
        new,
        f"127.0.0.1:{policies.canary_port}",
    ]


@pytest.fixture
def stub(plane: ControlPlaneThread) -> Iterator[Any]:
    with grpc.insecure_channel(f"{LOOPBACK}:{plane.xds_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        yield pb_grpc.BreakwaterStub(channel)


def test_grpc_drains_and_refuses_what_http_refuses(
    stub: Any, plane: ControlPlaneThread, policies: PolicyDir
) -> None:
    stable = f"127.0.0.1:{policies.stable_port}"
    drained = stub.DrainEndpoint(
        pb.DrainEndpointRequest(service="payments", endpoint=stable, expected_revision=0),
        timeout=TIMEOUT,
    )
    assert (drained.endpoint, drained.drained, drained.drained_at.seconds > 0) == (
        stable,
        True,
        True,
    )
    listed = stub.ListEndpoints(pb.ListEndpointsRequest(service="payments"), timeout=TIMEOUT)
    assert [e.drained for e in listed.endpoints] == [True, False]
    assert [e["drained"] for e in _endpoints(plane)] == [True, False]

    with pytest.raises(grpc.RpcError) as missing:
        stub.DrainEndpoint(
            pb.DrainEndpointRequest(service="payments", endpoint="10.9.9.9:80"), timeout=TIMEOUT
        )
    error: Any = missing.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "its endpoints: " in error.details()

    with pytest.raises(grpc.RpcError) as stale:
        stub.UndrainEndpoint(
            pb.DrainEndpointRequest(service="payments", endpoint=stable, expected_revision=0),
            timeout=TIMEOUT,
        )
    error = stale.value
    assert error.code() == grpc.StatusCode.ABORTED
    assert f"(current revision {drained.revision})" in error.details()
    stub.UndrainEndpoint(
        pb.DrainEndpointRequest(service="payments", endpoint=stable), timeout=TIMEOUT
    )
    assert http("GET", f"{plane.admin_url}/v1/status").body["drained_endpoints"] == []
