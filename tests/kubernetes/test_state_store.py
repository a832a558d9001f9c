"""The state store on the API server runs every store's contract (tests/etcd/test_store_contract.py),
then what is its own: another replica's writes are seen through a watch, a write for a claim
needs the Lease, and a store without the right to write says which RBAC rule is missing.

Each test's state lives in two ConfigMaps of the test's own namespace; "another reader" is
another store on its own connection, as another replica (or a restarted one) would be.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.models.rbac_v1 import PolicyRule

from breakwater.controlplane.state.kubernetes.store import KubernetesStore
from breakwater.controlplane.state.store import ClaimLost, Store, StoreError
from tests.etcd.test_instance_store import test_an_instance_is_durable_renewed_and_forgotten
from tests.etcd.test_store_contract import (
    test_a_drain_is_durable_and_compare_and_set,
    test_compare_and_set,
    test_delete,
    test_load_put_and_read_back,
    test_rollout_progress_and_history_are_shared_and_bounded,
)
from tests.support.kube_access import granted
from tests.support.kube_apiserver import KubeApiServer
from tests.support.stores import Opener

__all__ = [  # collected here too, with this module's `open_store`
    "test_a_drain_is_durable_and_compare_and_set",
    "test_an_instance_is_durable_renewed_and_forgotten",
    "test_compare_and_set",
    "test_delete",
    "test_load_put_and_read_back",
    "test_rollout_progress_and_history_are_shared_and_bounded",
]


@pytest.fixture
async def open_store(kube: KubeApiServer, kube_namespace: str) -> AsyncIterator[Opener]:
    """Each call: a store on a connection of its own, over the same namespace's state."""
    clients: list[AsyncClient] = []

    def opener() -> Store:
        client = AsyncClient(KubeConfig.from_file(kube.admin.kubeconfig))
        clients.append(client)
        return KubernetesStore(client, kube_namespace)

    yield opener
    for client in clients:
        await client.aclose()


async def test_another_replicas_writes_are_seen(open_store: Opener) -> None:
    store, other = open_store(), open_store()
    assert isinstance(store, KubernetesStore)
    await store.put_weights("payments", 0, {"stable": 1, "canary": 1})
    seen: list[int] = []

    async def follow() -> None:
        async with contextlib.aclosing(store.watch_state()) as changes:
            async for revision in changes:
                seen.append(revision)
                if revision >= 3:
                    return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.3)
    await store.put_weights("payments", 0, {"stable": 2, "canary": 1})  # its own: not yielded
    await other.put_weights("payments", 1, {"stable": 3, "canary": 1})
    await asyncio.wait_for(task, 10.0)
    assert seen == [3]


async def test_a_write_for_a_claim_needs_the_lease(
    kube_client: AsyncClient, kube_namespace: str
) -> None:
    leading = {"now": True}
    store = KubernetesStore(kube_client, kube_namespace, holds=lambda claim: leading["now"])
    revision = await store.put_rollout("payments", {"step": 1}, 0, claim="rollout/payments")
    leading["now"] = False
    with pytest.raises(ClaimLost):
        await store.put_rollout("payments", {"step": 2}, revision, claim="rollout/payments")
    assert (await store.load()).rollouts == {"payments": {"step": 1}}


async def test_a_refused_write_names_the_rbac_rule(
    kube: KubeApiServer, kube_admin: Client, kube_namespace: str
) -> None:
    rule = PolicyRule(apiGroups=[""], resources=["configmaps"], verbs=["get"])
    with granted(kube_admin, kube.restricted.name, [rule]):
        async with AsyncClient(KubeConfig.from_file(kube.restricted.kubeconfig)) as client:
            store = KubernetesStore(client, kube_namespace)
            assert (await store.load()).revision == 0
            with pytest.raises(StoreError, match=r"create configmaps .*verbs \['create'\]"):
                await store.put_weights("payments", 0, {"stable": 1})
            assert not store.health().available
