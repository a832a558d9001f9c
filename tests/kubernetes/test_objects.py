"""Kubernetes objects → policy documents (pure): what a Service, its slices and its pods
become, which Gateways are Breakwater's, and where errors point."""

from __future__ import annotations

from typing import Any

from breakwater.controlplane.kubernetes import kinds
from breakwater.controlplane.kubernetes.objects import CONTROLLER_NAME, convert
from breakwater.controlplane.kubernetes.options import KubernetesOptions
from breakwater.controlplane.kubernetes.source import KubernetesSource, Snapshot
from breakwater.translators.pipeline import PolicyReader


def meta(namespace: str, name: str, **more: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, **more}}


def service(namespace: str, name: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {**meta(namespace, name), "spec": {"ports": list(ports)}}


def slice_(
    namespace: str, service: str, ports: list[dict[str, Any]], *endpoints: dict[str, Any]
) -> dict[str, Any]:
    return {
        **meta(namespace, f"{service}-x", labels={"kubernetes.io/service-name": service}),
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": list(endpoints),
    }


def endpoint(address: str, pod: str, zone: str | None = None, **conditions: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "addresses": [address],
        "conditions": conditions,
        "targetRef": {"kind": "Pod", "name": pod},
    }
    if zone:
        found["zone"] = zone
    return found


def objects(
    **by_kind: dict[tuple[str, str], dict[str, Any]],
) -> dict[kinds.Kind, dict[tuple[str, str], dict[str, Any]]]:
    return {getattr(kinds, name.upper()): value for name, value in by_kind.items()}


def test_a_service_takes_its_slices_endpoints_by_condition_port_name_and_pod_labels() -> None:
    shop = objects(
        service={
            ("shop", "payments"): service(
                "shop",
                "payments",
                {"name": "metrics", "port": 9090},
                {"name": "web", "port": 80, "appProtocol": "kubernetes.io/h2c"},
            )
        },
        endpoint_slice={
            ("shop", "payments-x"): slice_(
                "shop",
                "payments",
                [{"name": "metrics", "port": 9091}, {"name": "web", "port": 8080}],
                endpoint("10.1.0.1", "p1", "zone-a", ready=True),
                endpoint("10.1.0.2", "p2", ready=False, serving=True, terminating=True),
                endpoint("10.1.0.3", "p3", ready=False, serving=False, terminating=True),
                endpoint("10.1.0.4", "p4", ready=False),
                endpoint("10.1.0.5", "p5"),  # no conditions: ready, as the API says
            )
        },
        pod={("shop", "p1"): meta("shop", "p1", labels={"version": "v1"})},
    )

    made = convert(shop).services["shop.payments"]

    assert made.path == "shop/Service/payments"
    assert made.data["spec"]["protocol"] == "http2"
    assert made.data["spec"]["endpoints"] == [
        {"address": "10.1.0.1", "port": 8080, "labels": {"version": "v1"}, "zone": "zone-a"},
        {"address": "10.1.0.2", "port": 8080, "labels": {}},
        {"address": "10.1.0.5", "port": 8080, "labels": {}},
    ]
    assert made.drained == {"10.1.0.2:8080"}


def test_only_gateways_of_breakwaters_class_are_read() -> None:
    def gateway(name: str, class_name: str) -> dict[str, Any]:
        return {**meta("shop", name), "spec": {"gatewayClassName": class_name, "listeners": []}}

    converted = convert(
        objects(
            gateway_class={
                ("", "ours"): {**meta("", "ours"), "spec": {"controllerName": CONTROLLER_NAME}},
                ("", "theirs"): {**meta("", "theirs"), "spec": {"controllerName": "example.com/x"}},
            },
            gateway={("shop", "a"): gateway("a", "ours"), ("shop", "b"): gateway("b", "theirs")},
        )
    )

    assert list(converted.texts) == ["shop/Gateway/a"]
    assert converted.ignored == ["shop/Gateway/b"]


def test_an_invalid_object_is_named_by_namespace_kind_and_name_with_its_field() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        **meta("shop", "pay"),
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "rules": [{"matches": [{"path": {"type": "RegularExpression", "value": "(("}}]}],
        },
    }
    source = KubernetesSource(KubernetesOptions())
    source._snapshot = Snapshot(objects(http_route={("shop", "pay"): route}))

    read = source.read(PolicyReader())

    assert read.policyset is not None  # the rest serves: the route is set aside
    assert [e.file for e in read.errors] == ["shop/HTTPRoute/pay"]
    assert read.errors[0].field == "spec.rules[0].matches[0]"
    assert "'((' is not a regular expression" in read.errors[0].message
    report = source.reports["shop/HTTPRoute/pay"]
    assert (report.served, report.documents) == ("none", ())
    assert report.errors == tuple(read.errors)


def gateway_api(kind: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    version = "v1beta1" if kind == "ReferenceGrant" else "v1"
    return {
        "apiVersion": f"gateway.networking.k8s.io/{version}",
        "kind": kind,
        **meta(namespace, name),
        "spec": spec,
    }


def test_namespaces_are_real_a_backend_elsewhere_needs_a_reference_grant() -> None:
    def route(name: str, backend: dict[str, Any]) -> dict[str, Any]:
        parent = {"name": "edge", "namespace": "shop"}
        return gateway_api(
            "HTTPRoute",
            "web",
            name,
            {"parentRefs": [parent], "rules": [{"backendRefs": [backend]}]},
        )

    listener = {
        "name": "http",
        "port": 8080,
        "protocol": "HTTP",
        "allowedRoutes": {"namespaces": {"from": "All"}},
    }
    cluster = objects(
        gateway_class={("", "bw"): {**meta("", "bw"), "spec": {"controllerName": CONTROLLER_NAME}}},
        gateway={
            ("shop", "edge"): gateway_api(
                "Gateway", "shop", "edge", {"gatewayClassName": "bw", "listeners": [listener]}
            )
        },
        service={
            ("shop", "payments"): service("shop", "payments", {"name": "http", "port": 80}),
            ("web", "front"): service("web", "front", {"name": "http", "port": 80}),
        },
        http_route={
            ("web", "own"): route("own", {"name": "front", "port": 80}),
            ("web", "other"): route("other", {"name": "payments", "namespace": "shop", "port": 80}),
        },
    )
    grant = gateway_api(
        "ReferenceGrant",
        "shop",
        "web-routes",
        {
            "from": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "web"}
            ],
            "to": [{"group": "", "kind": "Service"}],
        },
    )

    def read(snapshot: dict[kinds.Kind, dict[tuple[str, str], dict[str, Any]]]) -> dict[str, Any]:
        source = KubernetesSource(KubernetesOptions())
        source._snapshot = Snapshot(snapshot)
        policyset = source.read(PolicyReader()).policyset
        assert policyset is not None
        return {
            name: status.parents[0].conditions[1]
            for name, status in policyset.gateway_api.routes.items()
        }

    refused = read(cluster)
    cluster[kinds.REFERENCE_GRANT] = {("shop", "web-routes"): grant}
    granted = read(cluster)

    assert (refused["HTTPRoute/web.own"].status, refused["HTTPRoute/web.other"].reason) == (
        True,
        "RefNotPermitted",
    )
    assert granted["HTTPRoute/web.other"].status is True


def test_a_grpc_route_reaches_its_service_on_the_port_it_names() -> None:
    """The Service's port is the one the route names, and its appProtocol the protocol."""
    listener = {"name": "grpc", "port": 8080, "protocol": "HTTP"}
    cluster = objects(
        gateway_class={("", "bw"): {**meta("", "bw"), "spec": {"controllerName": CONTROLLER_NAME}}},
        gateway={
            ("shop", "edge"): gateway_api(
                "Gateway", "shop", "edge", {"gatewayClassName": "bw", "listeners": [listener]}
            )
        },
        service={
            ("shop", "pricing"): service(
                "shop",
                "pricing",
                {"name": "http", "port": 80},
                {"name": "rpc", "port": 9000, "appProtocol": "grpc"},
            )
        },
        endpoint_slice={
            ("shop", "pricing-x"): slice_(
                "shop",
                "pricing",
                [{"name": "http", "port": 8080}, {"name": "rpc", "port": 9090}],
                endpoint("10.1.0.1", "p1"),
            )
        },
        grpc_route={
            ("shop", "pricing"): gateway_api(
                "GRPCRoute",
                "shop",
                "pricing",
                {
                    "parentRefs": [{"name": "edge"}],
                    "rules": [{"backendRefs": [{"name": "pricing", "port": 9000}]}],
                },
            )
        },
    )
    source = KubernetesSource(KubernetesOptions())
    source._snapshot = Snapshot(cluster)

    read = source.read(PolicyReader())

    assert read.errors == []
    assert read.policyset is not None
    pricing = read.policyset.services["shop.pricing"]
    assert pricing.spec.protocol == "grpc"
    assert [(e.address, e.port) for e in pricing.spec.endpoints] == [("10.1.0.1", 9090)]
    assert (
        read.policyset.gateway_api.routes["GRPCRoute/shop.pricing"].parents[0].conditions[0].status
    )


def breakwater_kind(kind: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "breakwater.dev/v1alpha1",
        "kind": kind,
        **meta(namespace, name),
        "spec": spec,
    }


def test_breakwaters_kinds_refer_to_objects_of_their_own_namespace() -> None:
    retry = {"attempts": 2}
    cluster = objects(
        service={("shop", "payments"): service("shop", "payments", {"name": "http", "port": 80})},
        resilience_policy={
            ("shop", "payments"): breakwater_kind(
                "ResiliencePolicy",
                "shop",
                "payments",
                {"targetRef": {"name": "payments"}, "retry": retry},
            ),
            ("shop", "typo"): breakwater_kind(
                "ResiliencePolicy",
                "shop",
                "typo",
                {"targetRef": {"name": "paymnts"}, "retry": retry},
            ),
        },
        rollout={
            ("shop", "payments"): breakwater_kind(
                "Rollout",
                "shop",
                "payments",
                {"routeRef": {"name": "checkout"}, "stable": "a", "canary": "b", "stepWeight": 10},
            )
        },
    )
    source = KubernetesSource(KubernetesOptions())
    source._snapshot = Snapshot(cluster)

    read = source.read(PolicyReader())

    assert read.policyset is not None
    target = read.policyset.policies["payments"].spec.target_ref
    assert target is not None and target.name == "shop.payments"
    located = {(e.file, e.field): e.message for e in read.errors}
    assert located.keys() == {
        ("shop/ResiliencePolicy/typo", "spec.targetRef.name"),
        ("shop/Rollout/payments", "spec.routeRef.name"),
    }
    assert (
        "'shop.paymnts' is not declared"
        in located["shop/ResiliencePolicy/typo", "spec.targetRef.name"]
    )
    assert (
        "'shop.checkout' is not declared" in located["shop/Rollout/payments", "spec.routeRef.name"]
    )
