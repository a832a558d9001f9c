"""The Gateway API conformance suite's own manifests, applied to the API server as the suite
applies them, served by `serve --kubernetes` to a real Envoy: a few of its HTTPRoute cases,
ported with the requests and backends the suite's Go tests expect.

The suite's base manifests (namespaces, the infra backends' Services and Deployments) go in
verbatim; of its Gateways, `same-namespace` goes in with the class the suite would fill in
(`{GATEWAY_CLASS_NAME}`), a loopback address and a free port, since a test listens on
loopback only. No controller runs, so the test writes each backend's EndpointSlice as
kube-controller-manager would, for an upstream in a pod network named as the suite's pods
answer. Each case's HTTPRoute file is applied verbatim, checked, and deleted, as the suite
runs one test at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import Client, codecs

from breakwater.devtools.kube_apiserver import BUILD_COMMAND, gateway_conformance_dir
from breakwater.devtools.ports import free_port
from tests.support.kube_apiserver import KubeApiServer
from tests.support.kube_mesh import KubeMesh
from tests.support.kube_objects import SliceEndpoint, apply, endpoint_slice, gateway_class
from tests.support.netns import pod_network
from tests.support.pods import PodUpstream

INFRA = "gateway-conformance-infra"
BACKENDS = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3")
TARGET_PORT = 3000
"""The infra backends' first port (8080) goes to this container port."""


def manifests(name: str) -> list[Any]:
    directory = gateway_conformance_dir()
    if not directory.is_dir():
        pytest.fail(f"the conformance manifests are not fetched yet: run `{BUILD_COMMAND}`")
    text = (directory / name).read_text().replace("{GATEWAY_CLASS_NAME}", "breakwater")
    return list(codecs.load_all_yaml(text, create_resources_for_crds=True))


def base(admin: Client, port: int) -> None:
    for obj in manifests("base/manifests.yaml"):
        if obj.kind == "Gateway":
            if obj.metadata.name != "same-namespace":
                continue  # the others listen on their own ports and protocols
            obj.spec["addresses"] = [{"type": "IPAddress", "value": "127.0.0.1"}]
            obj.spec["listeners"][0]["port"] = port
        apply(admin, obj)


def port_names() -> dict[str, str]:
    """Each backend Service's name for its port 8080, which its slices carry ("" if unnamed,
    as kube-controller-manager writes it)."""
    found: dict[str, str] = {}
    for obj in manifests("base/manifests.yaml"):
        if obj.kind == "Service" and obj.metadata.name in BACKENDS:
            port = next(p for p in obj.spec.ports if p.port == 8080)
            found[obj.metadata.name] = port.name or ""
    return found


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PodUpstream]]:
    workdir = tmp_path_factory.mktemp("conformance-pods")
    with pod_network() as network:
        running: dict[str, PodUpstream] = {}
        try:
            for index, name in enumerate(BACKENDS):
                address = network.add_address(index)
                running[name] = PodUpstream(
                    network, workdir, name, name, address=address, port=TARGET_PORT
                ).start()
            yield running
        finally:
            for upstream in running.values():
                upstream.stop()


@pytest.fixture(scope="module")
def mesh(
    kube: KubeApiServer,
    kube_admin: Client,
    backends: dict[str, PodUpstream],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KubeMesh]:
    port = free_port()
    apply(kube_admin, gateway_class())
    base(kube_admin, port)
    names = port_names()
    for name, upstream in backends.items():
        pod = SliceEndpoint(upstream.address, f"{name}-0")
        slice_ = endpoint_slice(INFRA, name, TARGET_PORT, [pod], port_name=names[name])
        apply(kube_admin, slice_)
    workdir = tmp_path_factory.mktemp("conformance-mesh")
    with KubeMesh(workdir, kube.admin.kubeconfig, [INFRA]).start(port) as running:
        yield running


Request = tuple[str, dict[str, str], str]
"""(path, headers, the backend that must answer)."""


def one_case(admin: Client, mesh: KubeMesh, manifest: str, requests: list[Request]) -> None:
    """Apply the case's routes, wait until every request reaches its backend once, check
    each again, then delete the routes and wait until no route answers."""
    routes = manifests(f"tests/{manifest}")
    for route in routes:
        apply(admin, route)

    def answered(path: str, headers: dict[str, str], backend: str, count: int = 1) -> bool:
        return mesh.send(count, path=path, headers=headers).by_instance == {backend: count}

    try:
        mesh.wait_for(lambda: all(answered(*r) for r in requests), 15.0, f"{manifest} to serve")
        for path, headers, backend in requests:
            assert answered(path, headers, backend, 3), (manifest, path, headers, backend)
    finally:
        delete(admin, mesh, routes)


def delete(admin: Client, mesh: KubeMesh, routes: list[Any]) -> None:
    """The case's routes deleted, and gone from Envoy (nothing matches: 404)."""
    for route in routes:
        admin.delete(type(route), route.metadata.name, namespace=route.metadata.namespace)
    mesh.wait_for(lambda: mesh.send(1).by_status == {404: 1}, 15.0, "the routes to be gone")


V1, V2, V3 = BACKENDS


def test_httproute_simple_same_namespace(kube_admin: Client, mesh: KubeMesh) -> None:
    one_case(kube_admin, mesh, "httproute-simple-same-namespace.yaml", [("/", {}, V1)])


def test_httproute_matching(kube_admin: Client, mesh: KubeMesh) -> None:
    one_case(
        kube_admin,
        mesh,
        "httproute-matching.yaml",
        [
            ("/", {}, V1),
            ("/example", {}, V1),
            ("/", {"Version": "one"}, V1),
            ("/v2", {}, V2),
            ("/v2/example", {}, V2),
            ("/", {"Version": "two"}, V2),
            ("/v2/", {}, V2),
            ("/v2example", {}, V1),
            ("/foo/v2/example", {}, V1),
        ],
    )


def test_httproute_query_param_matching(kube_admin: Client, mesh: KubeMesh) -> None:
    one_case(
        kube_admin,
        mesh,
        "httproute-query-param-matching.yaml",
        [
            ("/?animal=whale", {}, V1),
            ("/?animal=dolphin", {}, V2),
            ("/?animal=dolphin&color=blue", {}, V3),
            ("/?ANIMAL=Whale", {}, V3),
            ("/?animal=whale&otherparam=irrelevant", {}, V1),
            ("/?animal=dolphin&color=yellow", {}, V2),
            ("/path1?animal=whale", {}, V1),
            ("/?animal=whale", {"version": "one"}, V2),
            ("/path2?animal=whale", {"version": "two"}, V3),
        ],
    )


def test_httproute_weight(kube_admin: Client, mesh: KubeMesh) -> None:
    """70/30/0 over 500 requests (the suite allows ±5 points; here ±10, under a loaded CPU)."""
    routes = manifests("tests/httproute-weight.yaml")
    for route in routes:
        apply(kube_admin, route)
    try:
        mesh.wait_for(
            lambda: mesh.send(20).by_instance.keys() == {V1, V2}, 15.0, "the weighted route"
        )
        result = mesh.send(500)
    finally:
        delete(kube_admin, mesh, routes)

    assert result.ok == 500, result.summary()
    assert 0.6 <= result.by_instance[V1] / 500 <= 0.8, result.summary()
    assert result.by_instance[V3] == 0, result.summary()
