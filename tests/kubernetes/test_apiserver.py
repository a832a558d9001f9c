"""What Breakwater will read from Kubernetes, written and read back on a real kube-apiserver.

No controller runs: the EndpointSlice is written as kube-controller-manager would write it
for the Service's pods, and the Gateway API objects get no status. These tests pin down
what the product's Kubernetes source can rely on: the objects round-trip, the CRDs are
served, a watch from a list's resourceVersion sees exactly the later changes, a watch
from a compacted one is refused with 410, and a user without the right gets 403.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from collections.abc import AsyncIterable
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient, Client, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import (
    Container,
    PodSpec,
    PodTemplateSpec,
    ServicePort,
    ServiceSpec,
)
from lightkube.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Namespace, PodTemplate, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from tests.support.kube_access import granted
from tests.support.kube_apiserver import RESTRICTED_USER, KubeApiServer
from tests.support.netns import POD_SUBNETS

GATEWAY_API = "gateway.networking.k8s.io"
Gateway = create_namespaced_resource(GATEWAY_API, "v1", "Gateway", "gateways")
HTTPRoute = create_namespaced_resource(GATEWAY_API, "v1", "HTTPRoute", "httproutes")
BreakwaterService = create_namespaced_resource("breakwater.dev", "v1alpha1", "Service", "services")

POD_ADDRESS = str(POD_SUBNETS[2])
"""Only written into objects here: nothing sends traffic to it."""


def endpoint_slice(namespace: str, service: str, *addresses: str) -> EndpointSlice:
    """The slice kube-controller-manager would write for a Service whose pods have these
    addresses and serve on port 8080 (named `http`)."""
    return EndpointSlice(
        metadata=ObjectMeta(
            name=f"{service}-abcde",
            namespace=namespace,
            labels={
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        ),
        addressType="IPv4",
        endpoints=[
            Endpoint(addresses=[address], conditions=EndpointConditions(ready=True))
            for address in addresses
        ],
        ports=[EndpointPort(name="http", port=8080, protocol="TCP")],
    )


def gateway_api_objects(namespace: str) -> tuple[Any, Any]:
    gateway = Gateway(
        metadata=ObjectMeta(name="edge", namespace=namespace),
        spec={
            "gatewayClassName": "breakwater",
            "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
        },
    )
    route = HTTPRoute(
        metadata=ObjectMeta(name="payments", namespace=namespace),
        spec={
            "parentRefs": [{"name": "edge"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/pay"}}],
                    "backendRefs": [{"name": "payments", "port": 80}],
                }
            ],
        },
    )
    return gateway, route


def test_both_sets_of_crds_are_served(kube_admin: Client) -> None:
    names = {crd.metadata.name for crd in kube_admin.list(CustomResourceDefinition) if crd.metadata}
    assert {
        "services.breakwater.dev",
        "resiliencepolicies.breakwater.dev",
        "gateways.breakwater.dev",
        "httproutes.breakwater.dev",
        "rollouts.breakwater.dev",
        "telemetries.breakwater.dev",
        f"gateways.{GATEWAY_API}",
        f"gatewayclasses.{GATEWAY_API}",
        f"httproutes.{GATEWAY_API}",
        f"grpcroutes.{GATEWAY_API}",
        f"referencegrants.{GATEWAY_API}",
    } <= names


async def test_a_breakwater_service_round_trips_through_its_crd(
    kube_client: AsyncClient, kube_namespace: str
) -> None:
    spec = {
        "protocol": "http",
        "endpoints": [{"address": POD_ADDRESS, "port": 8080, "labels": {"version": "stable"}}],
        "subsets": [{"name": "stable", "labels": {"version": "stable"}}],
    }
    await kube_client.create(
        BreakwaterService(metadata=ObjectMeta(name="payments", namespace=kube_namespace), spec=spec)
    )

    read = await kube_client.get(BreakwaterService, "payments", namespace=kube_namespace)

    assert read["spec"] == spec


async def test_the_schema_of_a_breakwater_crd_refuses_what_validation_refuses(
    kube_client: AsyncClient, kube_namespace: str
) -> None:
    wrong = BreakwaterService(
        metadata=ObjectMeta(name="payments", namespace=kube_namespace), spec={"protocol": "smtp"}
    )

    with pytest.raises(ApiError) as refused:
        await kube_client.create(wrong)

    assert refused.value.status.code == 422, refused.value.status
    assert "spec.protocol" in (refused.value.status.message or "")


async def test_an_endpoint_slice_refuses_a_loopback_address(
    kube_client: AsyncClient, kube_namespace: str
) -> None:
    """Why tests of pods run them in a network namespace (tests/support/netns.py)."""
    with pytest.raises(ApiError) as refused:
        await kube_client.create(endpoint_slice(kube_namespace, "payments", "127.0.0.1"))

    assert refused.value.status.code == 422
    assert "loopback" in (refused.value.status.message or "")


async def test_services_slices_and_gateway_api_objects_are_listed_then_watched(
    kube_client: AsyncClient, kube_namespace: str
) -> None:
    service = Service(
        metadata=ObjectMeta(name="payments", namespace=kube_namespace),
        spec=ServiceSpec(
            selector={"app": "payments"},
            ports=[ServicePort(name="http", port=80, targetPort="http")],
        ),
    )
    created = await kube_client.create(service)
    assert created.spec is not None and created.spec.clusterIP  # given by the API server
    await kube_client.create(endpoint_slice(kube_namespace, "payments", POD_ADDRESS))
    gateway, route = gateway_api_objects(kube_namespace)
    await kube_client.create(gateway)
    await kube_client.create(route)

    slices = kube_client.list(EndpointSlice, namespace=kube_namespace)
    listed = [s async for s in slices]
    route_list = kube_client.list(HTTPRoute, namespace=kube_namespace)
    routes = [r async for r in route_list]
    gateways = [g async for g in kube_client.list(Gateway, namespace=kube_namespace)]
    assert [[e.addresses for e in s.endpoints or []] for s in listed] == [[[POD_ADDRESS]]]
    assert [r["spec"]["parentRefs"][0]["name"] for r in routes] == ["edge"]
    assert [g.metadata.name for g in gateways if g.metadata] == ["edge"]

    changed = endpoint_slice(kube_namespace, "payments", POD_ADDRESS, str(POD_SUBNETS[3]))
    await kube_client.replace(changed)
    await kube_client.delete(EndpointSlice, "payments-abcde", namespace=kube_namespace)

    routes[0]["spec"]["rules"][0]["matches"][0]["path"]["value"] = "/checkout"
    await kube_client.replace(routes[0])  # as listed: a custom resource is replaced at a version

    watch = kube_client.watch(
        EndpointSlice, namespace=kube_namespace, resource_version=slices.resourceVersion
    )
    events = await _first(watch, 2)
    assert [(kind, [e.addresses[0] for e in s.endpoints or []]) for kind, s in events] == [
        ("MODIFIED", [POD_ADDRESS, str(POD_SUBNETS[3])]),
        ("DELETED", [POD_ADDRESS, str(POD_SUBNETS[3])]),
    ]
    route_watch = kube_client.watch(
        HTTPRoute, namespace=kube_namespace, resource_version=route_list.resourceVersion
    )
    route_events = await _first(route_watch, 1)
    paths = [r["spec"]["rules"][0]["matches"][0]["path"]["value"] for _, r in route_events]
    assert [kind for kind, _ in route_events] == ["MODIFIED"]
    assert paths == ["/checkout"]


async def _first(stream: AsyncIterable[tuple[str, Any]], count: int) -> list[tuple[str, Any]]:
    """The first `count` events of a watch, within 10 s."""

    async def collect() -> list[tuple[str, Any]]:
        events: list[tuple[str, Any]] = []
        async for event in stream:
            events.append(event)
            if len(events) == count:
                break
        return events

    return await asyncio.wait_for(collect(), 10.0)


def _compact(etcd_url: str) -> None:
    """Compact etcd's history up to its current revision, as the API server does every 5 min."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            etcd_url + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5.0) as answer:
            decoded: dict[str, Any] = json.load(answer)
        return decoded

    key = base64.b64encode(b"/registry").decode()
    revision = post("/v3/kv/range", {"key": key, "count_only": True})["header"]["revision"]
    post("/v3/kv/compaction", {"revision": revision, "physical": True})


async def test_a_watch_from_a_compacted_resource_version_is_gone(
    kube: KubeApiServer, kube_client: AsyncClient, kube_namespace: str
) -> None:
    """What a watch that resumes too late meets, and must answer by listing again."""
    template = PodTemplate(
        metadata=ObjectMeta(name="t", namespace=kube_namespace, labels={"v": "1"}),
        template=PodTemplateSpec(spec=PodSpec(containers=[Container(name="c", image="c")])),
    )
    created = await kube_client.create(template)
    assert created.metadata is not None
    # Two changes: a watch starting exactly at the compaction revision gets a 500 instead
    # (the server needs each event's previous value, which the compaction removed).
    for version in "23":
        template.metadata.labels = {"v": version}  # type: ignore[union-attr]
        await kube_client.replace(template)
    _compact(kube.etcd_url)

    with pytest.raises(ApiError) as gone:
        watch = kube_client.watch(
            PodTemplate, namespace=kube_namespace, resource_version=created.metadata.resourceVersion
        )
        await _first(watch, 1)

    assert gone.value.status.code == 410, gone.value.status


async def test_a_user_without_the_right_is_forbidden(
    kube: KubeApiServer, kube_admin: Client, kube_namespace: str
) -> None:
    may_list_namespaces = PolicyRule(apiGroups=[""], resources=["namespaces"], verbs=["list"])
    with granted(kube_admin, RESTRICTED_USER, [may_list_namespaces]):
        async with AsyncClient(KubeConfig.from_file(kube.restricted.kubeconfig)) as restricted:
            namespaces = [n.metadata.name async for n in restricted.list(Namespace) if n.metadata]
            assert kube_namespace in namespaces
            with pytest.raises(ApiError) as refused:
                _ = [s async for s in restricted.list(EndpointSlice, namespace=kube_namespace)]

    status = refused.value.status
    assert (status.code, status.reason) == (403, "Forbidden")
    assert f'User "{RESTRICTED_USER}" cannot list resource "endpointslices"' in (
        status.message or ""
    )
