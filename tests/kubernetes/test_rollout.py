"""A Rollout CRD on Kubernetes: driven by the Lease holder, its progress on the object's status
and its decisions as Events; the leader killed mid-rollout, the other replica goes on from
the same step, and rolls the canary back once it fails.

Real parts throughout: the API server, two `serve --kubernetes` processes, one Envoy whose
bootstrap lists both and which reports its stats every second, a stable and a canary pod
(upstream processes in a pod network, behind one Service with label subsets), and traffic
through the Envoy the whole time.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.events_v1 import Event

from breakwater.client import http
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import free_port
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.traffic import ContinuousTraffic, send_requests
from breakwater.devtools.waiting import WaitTimeout, wait_until
from tests.support.envoy import envoy_for
from tests.support.kube_apiserver import KubeApiServer
from tests.support.kube_objects import (
    SliceEndpoint,
    apply,
    endpoint_slice,
    gateway,
    gateway_class,
    http_route,
    namespace,
    pod,
    service,
    subsets,
)
from tests.support.kube_replicas import LEASE_DURATION, holder, holding, replica
from tests.support.netns import pod_network
from tests.support.pods import PodUpstream

Rollout = create_namespaced_resource("breakwater.dev", "v1alpha1", "Rollout", "rollouts")
POD_PORT = 8080
FLUSH = 1.0
"""Seconds between the proxy's stats flushes (the analysis needs fresh numbers)."""
LONG_PAUSE_STEP = 3
"""The step the leader is killed in: a pause long enough to outlast the takeover."""


def route() -> dict[str, Any]:
    subset = {"group": "breakwater.dev", "kind": "ServiceSubset"}
    return {
        "parentRefs": [{"name": "edge"}],
        "rules": [
            {
                "backendRefs": [
                    {**subset, "name": "payments.stable", "weight": 100},
                    {**subset, "name": "payments.canary", "weight": 0},
                ]
            }
        ],
    }


def rollout(namespace: str) -> Any:
    return Rollout(
        metadata=ObjectMeta(name="payments", namespace=namespace),
        spec={
            # The HTTPRoute of the Rollout's own namespace, as Kubernetes reads a reference.
            "routeRef": {"name": "payments", "rule": 0},
            "stable": "stable",
            "canary": "canary",
            "steps": [
                {"setWeight": 20},
                {"pause": {"duration": "2s"}},
                {"setWeight": 40},
                {"pause": {"duration": "120s"}},
                {"setWeight": 100},
            ],
            "analysis": {
                "interval": "2s",
                "minRequests": 5,
                "failureLimit": 1,
                "successRate": {"min": 95},
            },
        },
    )


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[dict[str, PodUpstream]]:
    with pod_network() as network:
        running: dict[str, PodUpstream] = {}
        try:
            for index, name in enumerate(("stable-1", "canary-1")):
                upstream = PodUpstream(
                    network,
                    tmp_path,
                    name,
                    "payments",
                    address=network.add_address(index),
                    port=POD_PORT,
                )
                running[name] = upstream.start()
            yield running
        finally:
            for upstream in running.values():
                upstream.stop()


def rollout_status(admin: Client, namespace: str) -> dict[str, Any]:
    status: Any = admin.get(Rollout, "payments", namespace=namespace).status or {}
    assert isinstance(status, dict)
    progress = status.get("rollout") or {}
    assert isinstance(progress, dict)
    return progress


def wait_status(
    admin: Client,
    namespace: str,
    serving: list[ServeProcess],
    done: Callable[[dict[str, Any]], bool],
    what: str,
) -> dict[str, Any]:
    """The Rollout's status once `done` says so; on a timeout, what the replicas say."""

    def reached() -> dict[str, Any] | None:
        found = rollout_status(admin, namespace)
        return found if done(found) else None

    try:
        return wait_until(reached, 40.0, f"the Rollout's status to show {what}")
    except WaitTimeout as timeout:
        views = [http("GET", f"{r.admin_url}/v1/rollouts/payments").body for r in serving]
        raise AssertionError(f"{timeout}; the replicas say: {views}") from None


def events(admin: Client, namespace: str) -> list[Event]:
    found = [
        e
        for e in admin.list(Event, namespace=namespace)
        if e.regarding is not None
        and (e.regarding.kind, e.regarding.name) == ("Rollout", "payments")
    ]
    return sorted(found, key=lambda e: e.eventTime)


def fail_everything(upstream: PodUpstream) -> None:
    """The canary answers 503 from now on (through its own control endpoint)."""
    request = urllib.request.Request(
        f"http://{upstream.address}:{POD_PORT}/__control",
        data=json.dumps({"fail_fraction": 1.0}).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5.0) as answer:
        assert answer.status == 200


@pytest.fixture
def app_namespace(kube_admin: Client) -> Iterator[str]:
    """The app's own namespace, not `default`: its Service is `<namespace>.payments` to
    Breakwater, and the canary's numbers must still reach the analysis through Envoy's stats."""
    with namespace(kube_admin, "shop") as name:
        yield name


@pytest.fixture
def app(kube_admin: Client, app_namespace: str, pods: dict[str, PodUpstream]) -> Iterator[int]:
    """The pods, their Service, slice and subsets, the Gateway and the route, in the app's
    namespace (deleted afterwards); yields the Gateway's port."""
    ns = app_namespace
    port = free_port()
    objects = [
        *(pod(ns, n, {"app": "payments", "version": n.split("-")[0]}) for n in pods),
        service(ns, "payments", POD_PORT),
        endpoint_slice(
            ns, "payments", POD_PORT, [SliceEndpoint(u.address, n) for n, u in pods.items()]
        ),
        subsets(ns, "payments", "stable", "canary"),
        gateway_class(),
        gateway(ns, "edge", port),
        http_route(ns, "payments", route()),
    ]
    for obj in objects:
        apply(kube_admin, obj)
    try:
        yield port
    finally:
        for obj in [rollout(ns), *reversed(objects[:-3]), objects[-2], objects[-1]]:
            assert obj.metadata is not None and obj.metadata.name is not None
            with contextlib.suppress(ApiError):
                kube_admin.delete(type(obj), obj.metadata.name, namespace=ns)


def test_the_leader_dies_mid_rollout_and_the_other_rolls_the_failing_canary_back(
    kube: KubeApiServer,
    kube_admin: Client,
    kube_namespace: str,
    app_namespace: str,
    pods: dict[str, PodUpstream],
    app: int,
    tmp_path: Path,
) -> None:
    ns, control, port = app_namespace, kube_namespace, app
    extra = ["--load-report-interval", f"{FLUSH:g}"]
    a = replica(kube.admin.kubeconfig, ns, tmp_path, "a", extra, control_namespace=control)
    # In the Envoy's bootstrap before it runs, so that the Envoy (its stream and its
    # reports) is on a, and moves to b when a dies.
    b = replica(kube.admin.kubeconfig, ns, tmp_path, "b", extra, control_namespace=control)
    envoy: EnvoyProcess = envoy_for(
        [a.xds_port, b.xds_port],
        "edge-1",
        tmp_path / "envoy",
        cluster="edge",
        log_level="warn",
        connect_timeout="0.25s",
        stats_flush_interval=f"{FLUSH:g}s",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        a.start(timeout=40.0)
        envoy.start()
        wait_until(lambda: send_requests(url, 5, timeout=2.0).ok == 5, 20.0, "the edge serving")
        b.start(timeout=40.0)
        assert holder(kube_admin, control).endswith(f"-{a.xds_port}"), "the first started leads"
        with ContinuousTraffic(url, rate=40.0, timeout=2.0, max_duration=120.0) as traffic:
            traffic.wait_for(40)
            apply(kube_admin, rollout(ns))
            before = wait_status(
                kube_admin, ns, [a, b], lambda s: s.get("step") == LONG_PAUSE_STEP, "the pause"
            )
            assert (before["phase"], before["canaryWeight"]) == ("Progressing", 40), before
            assert before["message"] == "step 3: pause 120 s", before
            assert before["lastAnalysis"]["verdict"] == "passed", before
            # Envoy's own view: the cluster of a Service outside `default` is
            # `<namespace>/payments|canary` whole in its tags (a dot would end it early),
            # which is what its stats sink sent the analysis above.
            tagged = envoy.admin("/stats/prometheus")
            canary = f'envoy_cluster_name="{ns}/payments|canary"'
            assert f'envoy_cluster_upstream_rq_xx{{envoy_response_code_class="2",{canary}}}' in (
                tagged
            ), [line for line in tagged.splitlines() if "upstream_rq_xx" in line]
            posted = events(kube_admin, ns)
            assert [e.reason for e in posted][:1] == ["StepTaken"], posted
            assert {e.reportingInstance for e in posted} == {holder(kube_admin, control)}

            # Kill the leader in the pause: the other holds the Lease within its duration.
            leader = holding(kube_admin, control, [a, b])
            other = b if leader is a else a
            leader.kill9()
            killed = time.monotonic()
            wait_until(
                lambda: holder(kube_admin, control).endswith(f"-{other.xds_port}"),
                LEASE_DURATION * 3,
                "the other replica holding the Lease",
            )
            takeover = time.monotonic() - killed
            assert takeover <= LEASE_DURATION * 1.2 + 1.5, f"took over after {takeover:.1f} s"
            # It goes on from the same step: the saved progress, not a new start.
            same = http("GET", f"{other.admin_url}/v1/rollouts/payments").body
            assert (same["phase"], same["step"], same["canary_weight"]) == ("Progressing", 3, 40)

            # The canary fails: the new leader rolls it back, on the object and in Events.
            fail_everything(pods["canary-1"])
            after = wait_status(
                kube_admin, ns, [other], lambda s: s.get("phase") == "RolledBack", "a rollback"
            )
            rolled_back_at = time.monotonic() - killed
            assert after["canaryWeight"] == 0 and after["step"] == LONG_PAUSE_STEP, after
            assert after["lastAnalysis"]["verdict"] == "failed", after
            wait_until(
                lambda: send_requests(url, 20, timeout=2.0).ok == 20,
                10.0,
                "every request on the stable pod again",
            )
            last = wait_until(
                lambda: [e for e in events(kube_admin, ns) if e.reason == "RolledBack"],
                10.0,
                "a RolledBack event",
            )[-1]
            assert last.type == "Warning" and last.reportingInstance == holder(kube_admin, control)
            by_new = [
                e for e in events(kube_admin, ns) if e.reportingInstance == last.reportingInstance
            ]
            steps = [int((e.note or "step 0").split()[1].rstrip(",")) for e in by_new]
            assert min(steps) >= LONG_PAUSE_STEP, [e.note for e in by_new]
    finally:
        envoy.stop()
        a.stop()
        b.stop()
    print(
        f"the other replica held the Lease {takeover:.1f} s after the leader was killed "
        f"(lease {LEASE_DURATION:g} s) and rolled the failing canary back "
        f"{rolled_back_at:.1f} s after the kill; {traffic.result.total} requests sent"
    )
