"""The guide's canary and rolling update, on Kubernetes: pods, slices and an HTTPRoute applied
through the API server, served by `serve --kubernetes` to a real Envoy, measured with requests.

The pods are real upstream processes, each at an address of its own in one pod network
(tests/support/netns.py); the test writes the EndpointSlices for them as
kube-controller-manager would, flipping their conditions as a Deployment's rollout does.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client

from breakwater.controlplane.kubernetes.source import ObjectReport
from breakwater.devtools.ports import free_port
from breakwater.translators.gateway_api.common import service_name
from breakwater.translators.names import cluster_name
from tests.support.kube_apiserver import KubeApiServer
from tests.support.kube_mesh import KubeMesh, served
from tests.support.kube_objects import (
    SliceEndpoint,
    apply,
    endpoint_slice,
    gateway,
    gateway_class,
    http_route,
    pod,
    service,
    subsets,
)
from tests.support.netns import pod_network
from tests.support.pods import PodUpstream

POD_PORT = 8080
PODS = {"stable-1": "stable", "stable-2": "stable", "canary-1": "canary", "stable-3": "stable"}
NEW_PODS = ("stable-4", "stable-5")
"""The rolling update's new pods (version stable, the next ReplicaSet)."""

CANARY_ROUTE: dict[str, Any] = {
    "parentRefs": [{"name": "edge"}],
    "rules": [
        {
            "matches": [{"headers": [{"name": "canary-user", "value": "true"}]}],
            "backendRefs": [
                {"group": "breakwater.dev", "kind": "ServiceSubset", "name": "payments.canary"}
            ],
        },
        {
            "backendRefs": [
                {
                    "group": "breakwater.dev",
                    "kind": "ServiceSubset",
                    "name": "payments.stable",
                    "weight": 90,
                },
                {
                    "group": "breakwater.dev",
                    "kind": "ServiceSubset",
                    "name": "payments.canary",
                    "weight": 10,
                },
            ]
        },
    ],
}


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PodUpstream]]:
    """Every pod the tests use, running, each at its own address of one pod network."""
    workdir = tmp_path_factory.mktemp("pods")
    with pod_network() as network:
        running: dict[str, PodUpstream] = {}
        try:
            for index, name in enumerate([*PODS, *NEW_PODS]):
                address = network.add_address(index)
                upstream = PodUpstream(
                    network, workdir, name, "payments", address=address, port=POD_PORT
                )
                running[name] = upstream.start()
            yield running
        finally:
            for upstream in running.values():
                upstream.stop()


def endpoint(pods: dict[str, PodUpstream], name: str) -> SliceEndpoint:
    return SliceEndpoint(pods[name].address, name)


def key(pods: dict[str, PodUpstream], name: str) -> str:
    return f"{pods[name].address}:{POD_PORT}"


def set_up(admin: Client, namespace: str, pods: dict[str, PodUpstream], names: list[str]) -> int:
    """The Service, its pods and slice, the subsets, a Gateway and the canary route; returns
    the gateway's port."""
    for name in [*PODS, *NEW_PODS]:
        version = PODS.get(name, "stable")
        apply(admin, pod(namespace, name, {"app": "payments", "version": version}))
    apply(admin, service(namespace, "payments", POD_PORT))
    apply(
        admin, endpoint_slice(namespace, "payments", POD_PORT, [endpoint(pods, n) for n in names])
    )
    apply(admin, subsets(namespace, "payments", "stable", "canary"))
    apply(admin, gateway_class())
    port = free_port()
    apply(admin, gateway(namespace, "edge", port))
    apply(admin, http_route(namespace, "payments", CANARY_ROUTE))
    return port


def test_the_canary_splits_90_10_and_follows_its_endpoint_slice(
    kube: KubeApiServer,
    kube_admin: Client,
    kube_namespace: str,
    pods: dict[str, PodUpstream],
    tmp_path: Path,
) -> None:
    names = ["stable-1", "stable-2", "canary-1"]
    port = set_up(kube_admin, kube_namespace, pods, names)
    stable = cluster_name(service_name(kube_namespace, "payments"), "stable")
    with KubeMesh(tmp_path, kube.admin.kubeconfig, [kube_namespace]).start(port) as mesh:
        mesh.wait_for(
            served(
                mesh, stable, {key(pods, "stable-1"): "HEALTHY", key(pods, "stable-2"): "HEALTHY"}
            ),
            15.0,
            "Envoy to hold the stable pods",
        )

        split = mesh.send(400)
        flagged = mesh.send(40, headers={"canary-user": "true"})

        assert split.ok == 400, split.summary()
        canary = split.by_instance["canary-1"] / split.ok
        assert 0.04 <= canary <= 0.18, split.summary()
        assert split.by_instance["stable-1"] > 0 and split.by_instance["stable-2"] > 0
        assert flagged.by_instance == {"canary-1": 40}, flagged.summary()

        # A third stable pod becomes ready: the slice lists it, and traffic reaches it.
        written = time.monotonic()
        apply(
            kube_admin,
            endpoint_slice(
                kube_namespace,
                "payments",
                POD_PORT,
                [endpoint(pods, n) for n in [*names, "stable-3"]],
            ),
        )
        mesh.wait_for(
            lambda: mesh.send(20).by_instance["stable-3"] > 0, 10.0, "a request on the new pod"
        )
        took = time.monotonic() - written
        assert took < 2.0, f"the new pod got traffic {took:.2f} s after the slice was written"

        # An invalid edit of the route (50/50 and a regex that does not compile) changes
        # nothing that serves: the route's last valid version stays, its errors are reported.
        broken = copy.deepcopy(CANARY_ROUTE)
        broken["rules"][1]["backendRefs"][0]["weight"] = 50
        broken["rules"][1]["backendRefs"][1]["weight"] = 50
        broken["rules"][0]["matches"][0]["path"] = {"type": "RegularExpression", "value": "(("}
        apply(kube_admin, http_route(kube_namespace, "payments", broken))
        path = f"{kube_namespace}/HTTPRoute/payments"

        def reported() -> ObjectReport | None:
            found = mesh.source.reports.get(path)
            return found if found is not None and found.errors else None

        report = mesh.wait_for(reported, 10.0, "the route's errors")
        assert report.served == "previous"
        assert report.errors[0].field == "spec.rules[0].matches[0]", report.errors
        after = mesh.send(300)
        assert after.ok == 300, after.summary()
        assert after.by_instance["canary-1"] / after.ok <= 0.2, after.summary()


def test_a_rolling_update_replayed_slice_by_slice_fails_no_request(
    kube: KubeApiServer,
    kube_admin: Client,
    kube_namespace: str,
    pods: dict[str, PodUpstream],
    tmp_path: Path,
) -> None:
    """The guide's rolling update (maxUnavailable: 1, no surge): each old pod is marked
    terminating (it still serves its requests), then a new pod becomes ready, then the old
    one leaves the slice and its process ends, under steady traffic."""
    current = ["stable-1", "stable-2", "canary-1"]
    port = set_up(kube_admin, kube_namespace, pods, current)
    stable = cluster_name(service_name(kube_namespace, "payments"), "stable")
    stopped: list[PodUpstream] = []
    with KubeMesh(tmp_path, kube.admin.kubeconfig, [kube_namespace]).start(port) as mesh:
        try:
            mesh.wait_for(
                served(
                    mesh,
                    stable,
                    {key(pods, "stable-1"): "HEALTHY", key(pods, "stable-2"): "HEALTHY"},
                ),
                15.0,
                "Envoy to hold the stable pods",
            )
            with mesh.continuous(rate=50.0) as traffic:
                traffic.wait_for(50)
                for old, new in zip(["stable-1", "stable-2"], NEW_PODS, strict=True):
                    slice_of = {n: endpoint(pods, n) for n in current}
                    slice_of[old] = slice_of[old].terminated()
                    write_slice(kube_admin, kube_namespace, slice_of.values())
                    mesh.wait_for(
                        lambda old=old: mesh.hosts(stable).get(key(pods, old)) == "DRAINING",  # type: ignore[misc]
                        10.0,
                        f"{old} draining in Envoy",
                    )
                    slice_of[new] = endpoint(pods, new)
                    write_slice(kube_admin, kube_namespace, slice_of.values())
                    mesh.wait_for(
                        lambda new=new: mesh.hosts(stable).get(key(pods, new)) == "HEALTHY",  # type: ignore[misc]
                        10.0,
                        f"{new} serving in Envoy",
                    )
                    del slice_of[old]
                    current = list(slice_of)
                    write_slice(kube_admin, kube_namespace, slice_of.values())
                    mesh.wait_for(
                        lambda old=old: key(pods, old) not in mesh.hosts(stable),  # type: ignore[misc]
                        10.0,
                        f"{old} gone from Envoy",
                    )
                    pods[old].stop()  # its grace period is over: the kubelet kills it
                    stopped.append(pods[old])
                    traffic.wait_for(traffic.completed + 50)
            result = traffic.result

            assert result.total >= 100, result.summary()
            assert result.ok == result.total, result.summary()
            assert {"stable-4", "stable-5"} <= set(result.by_instance), result.summary()
            assert mesh.hosts(stable) == {
                key(pods, "stable-4"): "HEALTHY",
                key(pods, "stable-5"): "HEALTHY",
            }
        finally:
            for upstream in stopped:
                upstream.start()  # the next test's pods


def write_slice(admin: Client, namespace: str, endpoints: Iterable[SliceEndpoint]) -> None:
    apply(admin, endpoint_slice(namespace, "payments", POD_PORT, list(endpoints)))


def test_an_api_server_outage_keeps_serving_and_the_next_change_follows(
    kube: KubeApiServer,
    kube_admin: Client,
    kube_namespace: str,
    pods: dict[str, PodUpstream],
    tmp_path: Path,
) -> None:
    """The API server stopped for 10 s under traffic: Envoy keeps the last configuration and
    no request fails; once it is back the watches resume, and the next change reaches Envoy."""
    names = ["stable-1", "stable-2", "canary-1"]
    port = set_up(kube_admin, kube_namespace, pods, names)
    stable = cluster_name(service_name(kube_namespace, "payments"), "stable")
    with KubeMesh(tmp_path, kube.admin.kubeconfig, [kube_namespace]).start(port) as mesh:
        mesh.wait_for(
            served(
                mesh, stable, {key(pods, "stable-1"): "HEALTHY", key(pods, "stable-2"): "HEALTHY"}
            ),
            15.0,
            "Envoy to hold the stable pods",
        )
        source = mesh.source
        with mesh.continuous(rate=40.0) as traffic:
            traffic.wait_for(40)
            kube.stop()
            try:
                mesh.wait_for(source.watch_errors, 10.0, "the watches to notice the outage")
                time.sleep(10.0)
                during = traffic.snapshot()
            finally:
                kube.start()
            mesh.wait_for(lambda: not source.watch_errors(), 15.0, "the watches to resume")
            written = time.monotonic()
            apply(
                kube_admin,
                endpoint_slice(
                    kube_namespace,
                    "payments",
                    POD_PORT,
                    [endpoint(pods, n) for n in [*names, "stable-3"]],
                ),
            )
            mesh.wait_for(
                lambda: key(pods, "stable-3") in mesh.hosts(stable), 10.0, "the new pod in Envoy"
            )
            took = time.monotonic() - written
        result = traffic.result

        assert during.total >= 300, during.summary()
        assert result.ok == result.total, result.summary()
        assert took < 1.0, f"the first change after the outage reached Envoy in {took:.2f} s"
