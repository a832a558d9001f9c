"""The watch layer of `serve --kubernetes` against the real API server: list then watch, a
watch too old for the server (410 Gone) answered by listing again, bookmarks, and a refusal
told as the RBAC rule that is missing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lightkube import AsyncClient, Client
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.core_v1 import PodTemplate

from breakwater.controlplane.kubernetes.connection import http_client, load_config
from breakwater.controlplane.kubernetes.kinds import ENDPOINT_SLICE, WATCHED, Kind
from breakwater.controlplane.kubernetes.options import KubernetesOptions
from breakwater.controlplane.kubernetes.source import KubernetesSource
from breakwater.controlplane.kubernetes.watch import Watcher
from breakwater.translators.pipeline import PolicyReader
from tests.kubernetes.test_apiserver import _compact
from tests.support.kube_access import granted
from tests.support.kube_apiserver import RESTRICTED_USER, KubeApiServer

POD_TEMPLATES = Kind("", "v1", "PodTemplate", "podtemplates")
"""Not cached by the test API server, so a compaction makes its old versions Gone."""


def template(namespace: str, name: str, version: str) -> PodTemplate:
    return PodTemplate(
        metadata=ObjectMeta(name=name, namespace=namespace, labels={"v": version}),
        template=PodTemplateSpec(spec=PodSpec(containers=[Container(name="c", image="c")])),
    )


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.02)


def labels(watcher: Watcher) -> dict[str, str]:
    return {name: obj["metadata"]["labels"]["v"] for (_, name), obj in watcher.objects.items()}


async def test_a_watch_too_old_for_the_server_lists_again_and_keeps_following(
    kube: KubeApiServer, kube_client: AsyncClient, kube_namespace: str
) -> None:
    await kube_client.create(template(kube_namespace, "a", "1"))
    http = http_client(load_config(KubernetesOptions(kubeconfig=kube.admin.kubeconfig)))
    changes: list[int] = []
    watcher = Watcher(http, POD_TEMPLATES, kube_namespace, lambda: changes.append(1), 0.05, 0.5)
    task = asyncio.create_task(watcher.run())
    try:
        await eventually(lambda: labels(watcher) == {"a": "1"})
        assert watcher.lists == 1
        task.cancel()  # the control plane away: the server moves on and compacts
        await asyncio.gather(task, return_exceptions=True)
        for version in "23":
            await kube_client.replace(template(kube_namespace, "a", version))
        await kube_client.create(template(kube_namespace, "b", "1"))
        _compact(kube.etcd_url)

        task = asyncio.create_task(watcher.run())  # resumes from the compacted version

        await eventually(lambda: labels(watcher) == {"a": "3", "b": "1"})
        assert watcher.lists == 2  # 410 Gone, then a list
        await kube_client.delete(PodTemplate, "a", namespace=kube_namespace)
        await eventually(lambda: labels(watcher) == {"b": "1"})
        assert watcher.error is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await http.aclose()


async def test_a_refused_list_names_the_missing_rbac_rule(
    kube: KubeApiServer, kube_admin: Client, kube_namespace: str
) -> None:
    may_list_namespaces = PolicyRule(apiGroups=[""], resources=["namespaces"], verbs=["list"])
    with granted(kube_admin, RESTRICTED_USER, [may_list_namespaces]):
        http = http_client(load_config(KubernetesOptions(kubeconfig=kube.restricted.kubeconfig)))
        watcher = Watcher(http, ENDPOINT_SLICE, kube_namespace, lambda: None, 0.05, 0.5)
        task = asyncio.create_task(watcher.run())
        try:
            await eventually(lambda: watcher.error is not None)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await http.aclose()

    assert watcher.error is not None
    assert watcher.error.startswith(
        f"Kubernetes refused to list endpointslices (discovery.k8s.io/v1 EndpointSlice) in "
        f"namespace {kube_namespace!r}: give the control plane's service account a Role in "
        f"namespace {kube_namespace!r} (or a ClusterRole) bound to it with the rule "
        'apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], '
        'verbs: ["get", "list", "watch"]'
    ), watcher.error
    assert not watcher.synced.is_set()


async def test_serve_keeps_nothing_served_until_every_kind_is_listed_and_says_what_is_missing(
    kube: KubeApiServer, kube_admin: Client, kube_namespace: str
) -> None:
    """A control plane that may not list EndpointSlices serves nothing (rather than Services
    without endpoints), and its error is the rule to add."""
    rules = [
        PolicyRule(apiGroups=[kind.group], resources=[kind.plural], verbs=["get", "list", "watch"])
        for kind in WATCHED
        if kind is not ENDPOINT_SLICE
    ]
    options = KubernetesOptions(
        kubeconfig=kube.restricted.kubeconfig,
        namespaces=(kube_namespace,),
        sync_timeout=1.0,
        backoff_initial=0.05,
        backoff_cap=0.5,
    )
    with granted(kube_admin, RESTRICTED_USER, rules):
        source = KubernetesSource(options)
        changes: list[int] = []

        async def changed() -> None:
            changes.append(1)

        await source.start(changed)
        try:
            read = source.read(PolicyReader())
        finally:
            await source.stop()

    assert read.policyset is None
    assert read.errors[0].message.startswith(
        "not every kind has been listed yet, so nothing is served: Kubernetes refused to list "
        "endpointslices (discovery.k8s.io/v1 EndpointSlice)"
    ), read.errors
    assert source.watch_errors() and "endpointslices" in source.watch_errors()[0]
