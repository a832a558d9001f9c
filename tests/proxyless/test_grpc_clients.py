"""Proxyless gRPC clients (grpcio's own xDS client) steered by the control plane, end to end.

Real gRPC servers on 127.0.0.1 answer with their instance name and count
every call by the status they answered; a real grpcio client in a
subprocess dials `xds:///payments` with a bootstrap from
`render_grpc_bootstrap`. Every test also checks that the client never
rejected (NACKed) anything it was sent. Retries and ejection, a weight write
and a drain run with grpc-go's xDS client too (`CLIENTS`): a second
implementation, so what passes is the gRFCs' behaviour, not one client's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest
from envoy.config.listener.v3 import listener_pb2

from breakwater.cli.tables import format_status
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.devtools.proxyless import GrpcBackend
from breakwater.translators.documents import SourceText
from breakwater.translators.pipeline import policyset_from_texts
from breakwater.xds_types import LISTENER_TYPE
from tests.support.ads import AdsClient
from tests.support.proxyless import (
    BREAKWATER_ROUTE,
    CLIENTS,
    GAMMA_ROUTE,
    Plane,
    assert_split_and_header_match,
    client_program,
    first_answer,
    service,
)


@pytest.mark.parametrize("route", [BREAKWATER_ROUTE, GAMMA_ROUTE], ids=["breakwater", "gamma"])
def test_a_split_and_a_header_match_steer_a_grpc_client(
    plane: Plane, backends: dict[str, GrpcBackend], route: str
) -> None:
    plane.start(service(backends) + route)
    client = plane.client()
    first_answer(client)

    assert_split_and_header_match(client)

    (proxy,) = plane.proxyless()
    assert proxy["user_agent"].lower().startswith("grpc"), proxy
    lds = next(t for t in proxy["types"] if t["type"] == "lds")
    assert lds["subscribed"] == ["payments"], lds
    text = format_status(plane.api("GET", "/v1/status"))
    assert "proxyless client checkout-1 (gRPC" in text, text
    assert "lds payments; rds payments; cds payments, payments|canary, payments|stable" in text
    plane.assert_no_nack()


@pytest.mark.parametrize("program", CLIENTS)
def test_a_weight_write_reaches_the_grpc_client_within_a_second(
    plane: Plane, backends: dict[str, GrpcBackend], program: str
) -> None:
    plane.start(service(backends) + BREAKWATER_ROUTE)
    client = plane.client(program=client_program(program))
    first_answer(client)
    plane.api(
        "PUT",
        "/v1/routes/payments-split/weights",
        {"weights": {"canary": 7, "stable": 0}, "rule": 1},  # a total other than 100 too
    )
    written = time.monotonic()
    while True:
        batch = client.calls(10)
        elapsed = time.monotonic() - written
        if batch["by"] == {"canary-1": 10}:
            break
        assert elapsed < 10, batch
    assert elapsed < 1.0, f"the weight took {elapsed:.2f} s to reach the client"
    plane.assert_no_nack()


@pytest.mark.parametrize("program", CLIENTS)
def test_an_unavailable_instance_is_retried_then_ejected(
    plane: Plane, backends: dict[str, GrpcBackend], program: str
) -> None:
    policy = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: payments}
spec:
  targetRef: {name: payments}
  retry: {attempts: 3, retryOn: [unavailable], backoff: {baseInterval: 10ms}}
  circuitBreaker:
    failureRateThreshold: 50
    minimumRequests: 5
    interval: 1s
    openDuration: 60s
"""
    plane.start(service(backends) + policy)
    failing = backends["canary-1"]
    failing.failing = grpc.StatusCode.UNAVAILABLE
    client = plane.client(program=client_program(program))
    first_answer(client)

    first = client.calls(40)
    assert not first["errors"], first  # every UNAVAILABLE was retried on the other instance
    assert first["by"] == {"stable-1": 40}, first
    assert failing.answered["UNAVAILABLE"] > 0, failing.answered

    deadline = time.monotonic() + 15
    while True:  # outlier detection looks every second: wait for a second with no call to it
        before = failing.calls
        client.calls(40)
        if failing.calls == before:
            break
        assert time.monotonic() < deadline, failing.answered
        time.sleep(0.5)
    assert client.calls(40)["by"] == {"stable-1": 40}
    assert failing.calls == before, "the ejected instance got calls again"
    plane.assert_no_nack()


@pytest.mark.parametrize("program", CLIENTS)
def test_a_drained_instance_gets_no_new_call(
    plane: Plane, backends: dict[str, GrpcBackend], program: str
) -> None:
    plane.start(service(backends))  # no route: the whole Service is the target
    client = plane.client(program=client_program(program))
    first_answer(client)
    spread = client.calls(40)
    assert set(spread["by"]) == {"stable-1", "canary-1"}, spread

    drained = backends["canary-1"]
    answer = plane.api("PUT", f"/v1/services/payments/endpoints/127.0.0.1:{drained.port}/drain")
    assert answer["drained"] is True, answer
    deadline = time.monotonic() + 10
    while client.calls(10)["by"] != {"stable-1": 10}:
        assert time.monotonic() < deadline
    before = drained.calls
    assert client.calls(60)["by"] == {"stable-1": 60}
    assert drained.calls == before
    plane.assert_no_nack()


LEAST_REQUEST = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: payments-balance}
spec:
  targetRef: {name: payments}
  loadBalancer: {policy: least-request}
"""


def test_what_grpc_cannot_do_is_refused_where_declared_and_never_sent(
    plane: Plane, backends: dict[str, GrpcBackend]
) -> None:
    declared = service(backends) + BREAKWATER_ROUTE + LEAST_REQUEST
    loaded = policyset_from_texts({"payments.yaml": SourceText("payments.yaml", declared)})
    (error,) = loaded.errors
    assert error.field == "spec.loadBalancer.policy", error
    assert "least-request is not implemented by gRPC's xDS client" in error.message
    assert "use round-robin or ring-hash" in error.message

    # Without a mesh route the gRPC service is Envoy's as much as the clients': the policy
    # stands, the clients get round robin, and the policy's status says what they lack.
    plane.start(service(backends) + LEAST_REQUEST)
    client = plane.client()
    first_answer(client)
    assert not client.calls(20)["errors"]
    plane.assert_no_nack()
    deadline = time.monotonic() + 10
    while True:
        status = plane.api("GET", "/v1/policies/payments-balance")
        if status["not_applied"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["not_applied"] == [
        "not applied on 1 proxyless client: loadBalancer.policy: least-request is not "
        "implemented by gRPC's xDS client"
    ], status

    # A refused edit changes nothing that was serving: the client keeps its configuration.
    (plane.policies / "payments.yaml").write_text(declared)
    time.sleep(1.0)
    assert not client.calls(20)["errors"]
    plane.assert_no_nack()


def test_the_calls_of_a_grpc_client_count_in_the_fleets_numbers(
    plane: Plane, backends: dict[str, GrpcBackend]
) -> None:
    """gRPC clients send load reports (LRS) to the control plane: each cluster's calls and
    failures, which a Rollout judges the canary by, include theirs."""
    policy = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: payments}
spec:
  targetRef: {name: payments}
  timeout: {request: 5s}
"""
    plane.start(
        service(backends) + BREAKWATER_ROUTE + policy, FleetOptions(load_report_interval=0.5)
    )
    backends["canary-1"].failing = grpc.StatusCode.INTERNAL
    client = plane.client()
    client.calls(40, {"canary-user": "true"})
    client.calls(40)
    deadline = time.monotonic() + 15
    while True:
        effect = {e["cluster"]: e for e in plane.api("GET", "/v1/policies/payments")["effect"]}
        canary, stable = effect["payments|canary"], effect["payments|stable"]
        counted = (
            canary["requests_total"] == backends["canary-1"].calls
            and stable["requests_total"] == backends["stable-1"].calls
        )
        if counted or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert canary["requests_total"] == backends["canary-1"].calls, canary
    assert canary["error_percent"] == 100.0, canary
    assert stable["requests_total"] == backends["stable-1"].calls, stable
    assert stable["error_percent"] == 0.0, stable


def test_a_name_not_served_is_answered_as_not_existing(
    plane: Plane, backends: dict[str, GrpcBackend]
) -> None:
    """The answer leaves the name out (State of the World). grpcio then fails the client's
    calls with `LDS resource nowhere: does not exist` once its own 15 s wait for a resource
    it never held runs out (C-core does not take an absence in a response as proof for a
    name it just asked for), which this test does not wait for."""
    plane.start(service(backends))
    client = plane.client("lost-1", target="nowhere")
    answer = client.calls(1, timeout=1)
    assert answer["errors"] == {"DEADLINE_EXCEEDED": 1}, answer
    deadline = time.monotonic() + 10
    while True:
        (proxy,) = plane.proxyless()
        lds = next(t for t in proxy["types"] if t["type"] == "lds")
        if lds["state"] == "synced" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [t["type"] for t in proxy["types"]] == ["lds"], proxy
    assert (lds["state"], lds["subscribed"], lds["resources"]) == ("synced", ["nowhere"], 0)
    plane.assert_no_nack()


def test_over_delta_a_name_not_served_is_removed(
    plane: Plane, backends: dict[str, GrpcBackend]
) -> None:
    """grpcio speaks State of the World; a client speaking Delta gets the API listener it asked
    for, and a name not served among `removed_resources`."""
    plane.start(service(backends))
    assert plane.thread is not None
    port = plane.thread.xds_port

    async def ask() -> Any:
        async with AdsClient(port, "delta-1", delta=True) as client:
            client.node.user_agent_name = "gRPC Go"
            await client.delta_request(LISTENER_TYPE, ["payments", "nowhere"])
            return await client.recv(timeout=10)

    response = asyncio.run(ask())
    assert [r.name for r in response.resources] == ["payments"]
    listener = listener_pb2.Listener()
    response.resources[0].resource.Unpack(listener)
    assert listener.HasField("api_listener"), listener
    assert list(response.removed_resources) == ["nowhere"]


ROLLOUT = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {name: payments}
spec:
  routeRef: {name: payments-split, rule: 1}
  stable: stable
  canary: canary
  steps:
    - setWeight: 50
    - pause: {duration: 1m}
  analysis: {interval: 1s, minRequests: 10, failureLimit: 1, successRate: {min: 90}}
"""


def test_a_rollout_judges_a_canary_by_the_grpc_clients_calls(
    plane: Plane, backends: dict[str, GrpcBackend]
) -> None:
    """No Envoy: the canary's failures reach the Rollout through the client's load reports,
    the Rollout rolls back, and the client's calls go to stable again."""
    route = BREAKWATER_ROUTE.replace("stable, weight: 90", "stable, weight: 100").replace(
        "canary, weight: 10", "canary, weight: 0"
    )
    plane.start(service(backends) + route + ROLLOUT, FleetOptions(load_report_interval=0.5))
    backends["canary-1"].failing = grpc.StatusCode.INTERNAL
    client = plane.client()
    client.calls(1, timeout=20)  # the Rollout may have set 50 % already: it may fail
    deadline = time.monotonic() + 30
    while True:
        client.calls(20)
        phase = plane.api("GET", "/v1/rollouts/payments")["phase"]
        if phase == "RolledBack" or time.monotonic() > deadline:
            break
    assert phase == "RolledBack", plane.api("GET", "/v1/rollouts/payments")
    assert backends["canary-1"].calls > 0  # the canary got calls at 50 %, and failed them
    deadline = time.monotonic() + 10
    while client.calls(10)["by"] != {"stable-1": 10}:
        assert time.monotonic() < deadline
    plane.assert_no_nack()
