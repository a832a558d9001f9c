"""The objects a cluster holds for a Service and its pods, written as its controllers would.

No controller runs beside the test API server, so a test writes what they would:
Pods (only their labels matter to Breakwater; they stay Pending), a Service, and
the EndpointSlice kube-controller-manager keeps for it, with each endpoint's
`ready`, `serving` and `terminating` conditions. Gateway API objects and
Breakwater's CRDs are generic resources. Everything is written with server-side
apply, so writing an object again replaces what the test wrote before.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightkube import Client
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.models.core_v1 import (
    Container,
    ObjectReference,
    PodSpec,
    ServicePort,
    ServiceSpec,
)
from lightkube.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod, Service
from lightkube.resources.discovery_v1 import EndpointSlice

GATEWAY_API = "gateway.networking.k8s.io"
GatewayClass = create_global_resource(GATEWAY_API, "v1", "GatewayClass", "gatewayclasses")
Gateway = create_namespaced_resource(GATEWAY_API, "v1", "Gateway", "gateways")
HTTPRoute = create_namespaced_resource(GATEWAY_API, "v1", "HTTPRoute", "httproutes")
BreakwaterService = create_namespaced_resource("breakwater.dev", "v1alpha1", "Service", "services")

FIELD_MANAGER = "breakwater-tests"
CONTROLLER_NAME = "breakwater.dev/gateway-controller"


def apply(client: Client, obj: Any) -> None:
    client.apply(obj, field_manager=FIELD_MANAGER, force=True)


@dataclass(frozen=True)
class SliceEndpoint:
    """One pod in an EndpointSlice: its address and conditions (a rolling update flips them)."""

    address: str
    pod: str
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    zone: str | None = None

    def terminated(self) -> SliceEndpoint:
        """As the slice shows a pod being deleted that still finishes its requests."""
        return SliceEndpoint(self.address, self.pod, False, True, True, self.zone)


@contextlib.contextmanager
def namespace(client: Client, prefix: str = "test") -> Iterator[str]:
    """A namespace of its own (`<prefix>-<random>`), deleted afterwards."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    client.create(Namespace(metadata=ObjectMeta(name=name)))
    try:
        yield name
    finally:
        client.delete(Namespace, name)


def pod(namespace: str, name: str, labels: Mapping[str, str]) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=dict(labels)),
        spec=PodSpec(containers=[Container(name="app", image="payments")]),
    )


def service(namespace: str, name: str, target_port: int, port_name: str = "http") -> Service:
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=ServiceSpec(
            selector={"app": name},
            ports=[ServicePort(name=port_name, port=80, targetPort=target_port)],
        ),
    )


def endpoint_slice(
    namespace: str,
    service_name: str,
    port: int,
    endpoints: Sequence[SliceEndpoint],
    *,
    name: str | None = None,
    port_name: str = "http",
) -> EndpointSlice:
    return EndpointSlice(
        metadata=ObjectMeta(
            name=name or f"{service_name}-abcde",
            namespace=namespace,
            labels={
                "kubernetes.io/service-name": service_name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        ),
        addressType="IPv4",
        endpoints=[
            Endpoint(
                addresses=[e.address],
                conditions=EndpointConditions(
                    ready=e.ready, serving=e.serving, terminating=e.terminating
                ),
                targetRef=ObjectReference(kind="Pod", name=e.pod, namespace=namespace),
                zone=e.zone,
            )
            for e in endpoints
        ],
        ports=[EndpointPort(name=port_name, port=port, protocol="TCP")],
    )


def gateway_class(name: str = "breakwater") -> Any:
    return GatewayClass(metadata=ObjectMeta(name=name), spec={"controllerName": CONTROLLER_NAME})


def gateway(namespace: str, name: str, port: int, class_name: str = "breakwater") -> Any:
    return Gateway(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec={
            "gatewayClassName": class_name,
            "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
            "listeners": [{"name": "http", "port": port, "protocol": "HTTP"}],
        },
    )


def http_route(namespace: str, name: str, spec: dict[str, Any]) -> Any:
    return HTTPRoute(metadata=ObjectMeta(name=name, namespace=namespace), spec=spec)


def subsets(namespace: str, name: str, *versions: str) -> Any:
    """The breakwater.dev Service that gives a core Service label subsets, one per `version`."""
    return BreakwaterService(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec={"subsets": [{"name": v, "labels": {"version": v}} for v in versions]},
    )


__all__ = [
    "BreakwaterService",
    "Gateway",
    "GatewayClass",
    "HTTPRoute",
    "SliceEndpoint",
    "apply",
    "endpoint_slice",
    "gateway",
    "gateway_class",
    "http_route",
    "namespace",
    "pod",
    "service",
    "subsets",
]
