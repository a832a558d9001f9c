"""Instances registering themselves, over HTTP and gRPC, against the real control plane.

No Envoy here (the end-to-end tests in tests/e2e/test_registration.py have
real ones): an ADS client stands in for a proxy where a test needs to see
what EDS sends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.config.endpoint.v3 import endpoint_pb2

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.waiting import wait_until
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from breakwater.xds_types import ENDPOINT_TYPE
from tests.api.cli import run_cli
from tests.support.ads import BlockingAdsClient

TIMEOUT = 10.0

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  endpoints:
    - {address: 127.0.0.1, port: 9001, labels: {track: stable}, zone: eu-1a}
  registration: {ttl: 2s, maxInstances: 3, drainTime: 1s}
  subsets:
    - {name: stable, labels: {track: stable}}
    - {name: canary, labels: {track: canary}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: legacy}
spec:
  endpoints: [{address: 127.0.0.1, port: 9009}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec: {port: 10000}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - backends:
        - {service: payments, subset: stable, weight: 90}
        - {service: payments, subset: canary, weight: 10}
"""


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlaneThread]:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "mesh.yaml").write_text(POLICIES)
    with ControlPlaneThread(tmp_path / "policies", tmp_path / "state") as running:
        yield running


def _url(plane: ControlPlaneThread, instance: str = "", service: str = "payments") -> str:
    base = f"{plane.admin_url}/v1/services/{service}/instances"
    return f"{base}/{instance}" if instance else base


def _eds(client: BlockingAdsClient, clusters: list[str]) -> dict[str, list[tuple[str, str, int]]]:
    """Cluster → (zone, ADDRESS:PORT, health status) of each of its endpoints."""
    client.request(ENDPOINT_TYPE, clusters)
    response = client.recv()
    found: dict[str, list[tuple[str, str, int]]] = {}
    for resource in response.resources:
        assignment = endpoint_pb2.ClusterLoadAssignment()
        resource.Unpack(assignment)
        hosts = found.setdefault(assignment.cluster_name, [])
        for locality in assignment.endpoints:
            assert locality.load_balancing_weight.value >= 1
            for lb in locality.lb_endpoints:
                address = lb.endpoint.address.socket_address
                hosts.append(
                    (
                        locality.locality.zone,
                        f"{address.address}:{address.port_value}",
                        lb.health_status,
                    )
                )
    return found


def _register(plane: ControlPlaneThread, instance: str, body: dict[str, Any]) -> Any:
    return http("PUT", _url(plane, instance), body)


def test_register_renew_and_deregister_reach_eds(plane: ControlPlaneThread) -> None:
    made = _register(plane, "127.0.0.1:9002", {"labels": {"track": "canary"}, "zone": "eu-1b"})
    assert made.status == 200, made.text
    assert made.body["state"] == "serving"
    assert made.body["zone"] == "eu-1b"
    assert made.body["ttl_seconds"] == 2.0
    assert "warnings" not in made.body
    first_renewal = made.body["renewed_at"]

    with BlockingAdsClient(plane.xds_port) as client:
        wait_until(
            lambda: (
                _eds(client, ["payments|canary"]).get("payments|canary")
                == [("eu-1b", "127.0.0.1:9002", 0)]
            ),
            TIMEOUT,
            "EDS to send the registered canary",
        )
        # A renewal keeps the instance past its first TTL and changes nothing served.
        for _ in range(3):
            time.sleep(1.0)
            renewed = _register(
                plane, "127.0.0.1:9002", {"labels": {"track": "canary"}, "zone": "eu-1b"}
            )
            assert renewed.status == 200, renewed.text
            assert renewed.body["revision"] == made.body["revision"]
        assert renewed.body["renewed_at"] > first_renewal
        listed = http("GET", _url(plane)).body
        assert [i["endpoint"] for i in listed["instances"]] == ["127.0.0.1:9002"]
        assert listed["max_instances"] == 3

        gone = http("DELETE", _url(plane, "127.0.0.1:9002"))
        assert gone.status == 200, gone.text
        assert gone.body["state"] == "draining"
        wait_until(
            lambda: (
                _eds(client, ["payments|canary"]).get("payments|canary")
                == [("eu-1b", "127.0.0.1:9002", 3)]
            ),  # DRAINING
            TIMEOUT,
            "EDS to send the deregistered canary as DRAINING",
        )
        wait_until(
            lambda: (
                _eds(client, ["payments|canary"]).get("payments|canary") is None
                or not _eds(client, ["payments|canary"]).get("payments|canary")
            ),
            TIMEOUT,
            "the drained canary to leave EDS",
        )
    events = http("GET", f"{plane.admin_url}/v1/events").body["events"]
    whats = [e["what"] for e in events]
    assert any("127.0.0.1:9002 of payments registered" in w for w in whats), whats
    assert any("deregistered: draining" in w for w in whats), whats
    assert any("left after its drain" in w for w in whats), whats


def test_an_instance_not_renewed_expires(plane: ControlPlaneThread) -> None:
    assert _register(plane, "127.0.0.1:9003", {"labels": {"track": "stable"}}).status == 200
    wait_until(
        lambda: not http("GET", _url(plane)).body["instances"], TIMEOUT, "the instance to expire"
    )
    events = http("GET", f"{plane.admin_url}/v1/events").body["events"]
    assert any("expired: not renewed within its TTL" in e["what"] for e in events), events
    metrics = http("GET", f"{plane.admin_url}/metrics").text
    assert 'breakwater_instances{service="payments",state="serving"} 0.0' in metrics
    assert "breakwater_instance_expirations_total 1.0" in metrics


@pytest.mark.parametrize(
    ("instance", "body", "status", "words"),
    [
        ("payments.internal:8080", {}, 400, "is not an IP address"),
        ("127.0.0.1:70000", {}, 400, "out of range; use a port from 1 to 65535"),
        ("127.0.0.1:9001", {}, 400, "is listed in the `endpoints`"),
        ("127.0.0.1:9004", {"ttl": "0s"}, 400, "`ttl`"),
        ("127.0.0.1:9004", {"zone": "eu 1a"}, 400, "`zone`"),
        ("127.0.0.1:9004", {"colour": "blue"}, 400, "`colour`"),
        ("127.0.0.1:9004", {"ttl": "25h"}, 400, "out of range; use from 1s to 24h"),
    ],
)
def test_bad_registrations_are_refused_with_a_sentence(
    plane: ControlPlaneThread, instance: str, body: dict[str, Any], status: int, words: str
) -> None:
    answer = _register(plane, instance, body)
    assert answer.status == status, answer.text
    assert words in answer.body["error"], answer.body


def test_a_service_that_did_not_opt_in_is_refused_saying_how(plane: ControlPlaneThread) -> None:
    answer = http("PUT", _url(plane, "127.0.0.1:9005", service="legacy"), {})
    assert answer.status == 409, answer.text
    assert "does not take registrations; add `registration:" in answer.body["error"]
    assert "mesh.yaml:" in answer.body["error"]


def test_labels_matching_no_subset_are_accepted_with_a_warning(plane: ControlPlaneThread) -> None:
    answer = _register(plane, "127.0.0.1:9006", {"labels": {"track": "preview"}})
    assert answer.status == 200, answer.text
    [warning] = answer.body["warnings"]
    assert "match none of the subsets" in warning
    assert "stable (track=stable)" in warning and "canary (track=canary)" in warning


def test_the_instance_limit_is_refused(plane: ControlPlaneThread) -> None:
    for port in (9011, 9012, 9013):
        assert _register(plane, f"127.0.0.1:{port}", {"ttl": "1m"}).status == 200
    answer = _register(plane, "127.0.0.1:9014", {"ttl": "1m"})
    assert answer.status == 429, answer.text
    assert "maxInstances" in answer.body["error"]
    # A renewal of one it holds is no new instance.
    assert _register(plane, "127.0.0.1:9011", {"ttl": "1m"}).status == 200


def test_the_same_over_grpc(plane: ControlPlaneThread) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{plane.xds_port}") as channel:
        stub = pb_grpc.BreakwaterStub(channel)
        made = stub.RegisterInstance(
            pb.RegisterInstanceRequest(
                service="payments",
                instance="127.0.0.1:9021",
                labels={"track": "canary"},
                zone="eu-1a",
                ttl="1m",
            ),
            timeout=TIMEOUT,
        )
        assert (made.endpoint, made.state, made.ttl_seconds) == ("127.0.0.1:9021", "serving", 60)
        listed = stub.ListInstances(pb.ListInstancesRequest(service="payments"), timeout=TIMEOUT)
        assert [i.endpoint for i in listed.instances] == ["127.0.0.1:9021"]
        gone = stub.DeregisterInstance(
            pb.DeregisterInstanceRequest(service="payments", instance="127.0.0.1:9021"),
            timeout=TIMEOUT,
        )
        assert gone.state == "draining"
        with pytest.raises(grpc.RpcError) as refused:
            stub.RegisterInstance(
                pb.RegisterInstanceRequest(service="legacy", instance="127.0.0.1:9022"),
                timeout=TIMEOUT,
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_the_cli_registers_lists_and_deregisters(plane: ControlPlaneThread) -> None:
    server = ("--server", plane.admin_url)
    made = run_cli(
        "endpoints", "register", "payments", "127.0.0.1:9031", "--label", "track=preview",
        "--zone", "eu-1c", "--ttl", "1m", *server,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "127.0.0.1:9031" in made.stdout and "eu-1c" in made.stdout
    assert "warning: the labels (track=preview) match none of the subsets" in made.stderr
    listed = run_cli("endpoints", "list", "payments", *server)
    assert listed.returncode == 0, listed.stderr
    # The static endpoint and the registered one, then the registered instances.
    assert "127.0.0.1:9001" in listed.stdout
    assert "registered instances of payments: 1 of at most 3, TTL 2s, drain 1s" in listed.stdout
    instances = listed.stdout.split("registered instances of payments")[1]
    row = next(line for line in instances.splitlines() if line.startswith("127.0.0.1:9031"))
    assert "eu-1c" in row and "track=preview" in row and "ago" in row
    misplaced = run_cli("endpoints", "drain", "payments", "127.0.0.1:9031", "--zone", "x", *server)
    assert misplaced.returncode == 1
    assert "--zone only go with `endpoints register`" in misplaced.stderr
    gone = run_cli("endpoints", "deregister", "payments", "127.0.0.1:9031", *server)
    assert gone.returncode == 0, gone.stderr
    assert "draining" in gone.stdout
    refused = run_cli("endpoints", "register", "legacy", "127.0.0.1:9032", *server)
    assert refused.returncode == 1
    assert "does not take registrations" in refused.stderr
