"""Fixtures of the etcd tests: a real etcd per test, stopped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from breakwater.controlplane.state.etcd import EtcdStore
from breakwater.controlplane.state.store import SqliteStore, Store
from tests.etcd.etcd_server import EtcdServer
from tests.etcd.fleet import Fleet
from tests.support.stores import Opener


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    with EtcdServer(tmp_path / "etcd") as server:
        yield server


@pytest.fixture
def fleet(tmp_path: Path, etcd: EtcdServer) -> Iterator[Fleet]:
    built = Fleet(tmp_path, etcd)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(params=["sqlite", "etcd"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """The store contract's stores on this machine: SQLite, and etcd (a real one per test)."""
    opened: list[Store] = []

    def opener() -> Store:
        if request.param == "sqlite":
            store: Store = SqliteStore(tmp_path / "state")
        else:
            etcd: EtcdServer = request.getfixturevalue("etcd")
            store = EtcdStore.from_url(etcd.url("contract"), timeout=2.0)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()
