"""Endpoint drains in both stores: durable, compare-and-set on the drain's revision, and read
back by another reader (a restart with SQLite, another replica with etcd)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from breakwater.controlplane.state.etcd import EtcdStore
from breakwater.controlplane.state.store import Drain, RevisionConflict, SqliteStore, Store
from tests.etcd.etcd_server import EtcdServer

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "etcd"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[Store] = []

    def opener() -> Store:
        if request.param == "sqlite":
            store: Store = SqliteStore(tmp_path / "state")
        else:
            etcd: EtcdServer = request.getfixturevalue("etcd")
            store = EtcdStore.from_url(etcd.url("drains"), timeout=2.0)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


async def test_a_drain_is_durable_and_compare_and_set(open_store: Opener) -> None:
    store = open_store()
    drain = Drain("payments", "10.0.0.7:8080", "token@10.1.1.1", 1_796_000_000.5)
    written = await store.put_drain(drain, expected_revision=0)
    assert written.revision > 0
    with pytest.raises(RevisionConflict) as conflict:
        await store.put_drain(drain, expected_revision=0)
    assert conflict.value.current == written.revision

    reader = open_store()
    loaded = await reader.load()
    assert loaded.drains == {("payments", "10.0.0.7:8080"): written}
    assert loaded.revision >= written.revision

    with pytest.raises(RevisionConflict):
        await reader.delete_drain("payments", "10.0.0.7:8080", written.revision - 1)
    revision = await reader.delete_drain("payments", "10.0.0.7:8080", written.revision)
    assert revision > written.revision
    assert (await store.load()).drains == {}
    # Undraining what is not drained changes nothing and is no error, unless a revision is named.
    await store.delete_drain("payments", "10.0.0.7:8080")
    with pytest.raises(RevisionConflict):
        await store.delete_drain("payments", "10.0.0.7:8080", 5)
