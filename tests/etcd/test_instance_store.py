"""Registered instances in both stores: durable, renewed, read back by another reader (a restart
with SQLite, another replica with etcd), and on etcd removed by etcd itself when not renewed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from breakwater.controlplane.state.etcd import EtcdStore
from breakwater.controlplane.state.instances import Instance
from tests.etcd.etcd_server import EtcdServer
from tests.support.stores import Opener


def _instance(ttl: float) -> Instance:
    now = time.time()
    return Instance(
        "payments", "10.0.0.7:8080", "10.0.0.7", 8080, {"track": "canary"}, "eu-1a", 2, ttl,
        now, now, now + ttl, False, "token@10.1.1.1",
    )  # fmt: skip


async def test_an_instance_is_durable_renewed_and_forgotten(open_store: Opener) -> None:
    store = open_store()
    saved = await store.put_instance(_instance(30.0))
    assert saved.revision > 0

    reader = open_store()
    [loaded] = (await reader.load()).instances.values()
    assert replace(loaded, lease=0) == replace(saved, lease=0)

    renewed = saved.renewed(saved.renewed_at + 5)
    assert await reader.renew_instances([renewed]) == [True]
    await reader.delete_instance("payments", "10.0.0.7:8080")
    assert (await store.load()).instances == {}
    assert await store.renew_instances([renewed]) == [False]
    await store.delete_instance("payments", "10.0.0.7:8080")  # nothing to forget: no error


async def test_etcd_removes_an_instance_that_is_not_renewed(etcd: EtcdServer) -> None:
    store = EtcdStore.from_url(etcd.url("instances"), timeout=2.0)
    try:
        saved = await store.put_instance(_instance(2.0))
        assert saved.lease != 0
        assert await store.renew_instances([saved]) == [True]

        deadline = time.monotonic() + 10.0
        while (await store.load()).instances:
            assert time.monotonic() < deadline, "etcd kept the instance past its lease"
            await asyncio.sleep(0.2)
        assert await store.renew_instances([saved]) == [False]
    finally:
        await store.close()
