"""Status written back to the objects, by the one replica that holds the Lease.

Two `serve --kubernetes` processes read the same namespace; the test applies a
GatewayClass, a Gateway, a Service with its slice and two HTTPRoutes (one naming a
Service that does not exist) and reads what `kubectl get -o yaml` would show. Then
it kills the leader with SIGKILL: the other replica takes the Lease within its
duration and is the one that answers the next change.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta

from breakwater.devtools.ports import free_port
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until
from tests.support.kube_apiserver import KubeApiServer
from tests.support.kube_objects import Gateway as GatewayResource
from tests.support.kube_objects import (
    GatewayClass,
    HTTPRoute,
    SliceEndpoint,
    apply,
    endpoint_slice,
    gateway,
    gateway_class,
    http_route,
    pod,
    service,
)
from tests.support.kube_replicas import LEASE_DURATION, holder, holding, replicas
from tests.support.netns import POD_SUBNETS

POD_ADDRESS = str(POD_SUBNETS[3])
"""Only written into the slice: no Envoy runs here, nothing sends traffic to it."""
ResiliencePolicy = create_namespaced_resource(
    "breakwater.dev", "v1alpha1", "ResiliencePolicy", "resiliencepolicies"
)


def route_to(service_name: str) -> dict[str, Any]:
    return {
        "parentRefs": [{"name": "edge"}],
        "rules": [{"backendRefs": [{"name": service_name, "port": 80}]}],
    }


@pytest.fixture
def two(kube: KubeApiServer, kube_namespace: str, tmp_path: Path) -> Iterator[list[ServeProcess]]:
    with replicas(kube.admin.kubeconfig, kube_namespace, tmp_path, 2) as started:
        yield started


def status_of(obj: Any) -> dict[str, Any]:
    """A generic resource's status as the API server holds it (empty until written)."""
    status = obj.status or {}
    assert isinstance(status, dict)
    return status


def parent_conditions(admin: Client, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    """The route's conditions on its (one) parent, by type; empty until written."""
    status = status_of(admin.get(HTTPRoute, name, namespace=namespace))
    parents = status.get("parents") or []
    return {c["type"]: c for c in parents[0]["conditions"]} if parents else {}


def conditions_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def test_the_leader_writes_status_and_another_takes_over_when_it_dies(
    kube_admin: Client, kube_namespace: str, two: list[ServeProcess]
) -> None:
    ns = kube_namespace
    apply(kube_admin, gateway_class())
    apply(kube_admin, gateway(ns, "edge", free_port()))
    apply(kube_admin, pod(ns, "payments-1", {"app": "payments"}))
    apply(kube_admin, service(ns, "payments", 8080))
    apply(
        kube_admin,
        endpoint_slice(ns, "payments", 8080, [SliceEndpoint(POD_ADDRESS, "payments-1")]),
    )
    apply(kube_admin, http_route(ns, "shop", route_to("payments")))
    apply(kube_admin, http_route(ns, "lost", route_to("nowhere")))

    # HTTPRoute: Accepted and ResolvedRefs on its parent, for the generation read.
    shop = wait_until(
        lambda: parent_conditions(kube_admin, ns, "shop").get("ResolvedRefs"),
        30.0, "the shop route's status",
    )  # fmt: skip
    conditions = parent_conditions(kube_admin, ns, "shop")
    assert (conditions["Accepted"]["status"], shop["status"]) == ("True", "True")
    assert {c["observedGeneration"] for c in conditions.values()} == {1}
    shop_status = status_of(kube_admin.get(HTTPRoute, "shop", namespace=ns))
    assert shop_status["parents"][0]["controllerName"] == "breakwater.dev/gateway-controller"
    assert shop_status["parents"][0]["parentRef"]["name"] == "edge"

    # A backendRef to a missing Service: accepted, its refs not resolved.
    lost = wait_until(
        lambda: parent_conditions(kube_admin, ns, "lost").get("ResolvedRefs"),
        30.0, "the lost route's status",
    )  # fmt: skip
    assert (lost["status"], lost["reason"]) == ("False", "BackendNotFound")
    assert "nowhere" in lost["message"]
    assert parent_conditions(kube_admin, ns, "lost")["Accepted"]["status"] == "True"

    # The Gateway: accepted, programmed, both routes attached to its listener.
    edge = status_of(kube_admin.get(GatewayResource, "edge", namespace=ns))
    assert conditions_of(edge)["Accepted"]["status"] == "True"
    assert conditions_of(edge)["Programmed"]["status"] == "True"
    assert edge["listeners"][0]["attachedRoutes"] == 2
    klass = status_of(kube_admin.get(GatewayClass, "breakwater"))
    assert conditions_of(klass)["Accepted"]["status"] == "True"

    # An invalid Breakwater object: the condition names the field and what is allowed,
    # and nothing that was serving changes.
    apply(
        kube_admin,
        ResiliencePolicy(
            metadata=ObjectMeta(name="careful", namespace=ns),
            spec={
                # No targetRef: every Service.
                "retry": {"attempts": 3, "perTryTimeout": "5s"},
                "timeout": {"request": "1s"},
            },
        ),
    )
    accepted = wait_until(
        lambda: conditions_of(
            status_of(kube_admin.get(ResiliencePolicy, "careful", namespace=ns))
        ).get("Accepted"),
        30.0, "the policy's status",
    )  # fmt: skip
    assert (accepted["status"], accepted["reason"]) == ("False", "Invalid")
    assert "spec.retry.perTryTimeout" in accepted["message"]
    assert "make perTryTimeout shorter than the request timeout" in accepted["message"]
    assert parent_conditions(kube_admin, ns, "shop")["Accepted"]["status"] == "True"

    # Kill the leader: the other takes the Lease within its duration and writes status.
    leader = holding(kube_admin, ns, two)
    other = next(r for r in two if r is not leader)
    leader.kill9()
    killed = time.monotonic()
    wait_until(
        lambda: holder(kube_admin, ns).endswith(f"-{other.xds_port}"),
        LEASE_DURATION * 3, "the other replica to hold the Lease",
    )  # fmt: skip
    took = time.monotonic() - killed
    assert took <= LEASE_DURATION * 1.2 + 1.5, f"took over after {took:.1f} s"

    route = kube_admin.get(HTTPRoute, "shop", namespace=ns)
    route.spec["hostnames"] = ["shop.example"]
    kube_admin.replace(route)
    wait_until(
        lambda: {
            c["observedGeneration"] for c in parent_conditions(kube_admin, ns, "shop").values()
        } == {2},
        20.0, "the new leader to write the route's new generation",
    )  # fmt: skip
