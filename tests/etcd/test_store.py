"""The etcd store against a real etcd, beyond what every store does (test_store_contract.py):
revisions, watch, leases, outages."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aetcd  # type: ignore[import-untyped]
import pytest

from breakwater.controlplane.state.etcd import (
    DEFAULT_PREFIX,
    EtcdStore,
    StoreCompacted,
    parse_etcd_url,
)
from breakwater.controlplane.state.store import StoreError
from breakwater.devtools.ports import free_ports
from tests.etcd.etcd_server import EtcdServer


@pytest.fixture
async def store(etcd: EtcdServer) -> AsyncIterator[EtcdStore]:
    opened = EtcdStore.from_url(etcd.url("unit"), timeout=2.0)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def other(etcd: EtcdServer) -> AsyncIterator[EtcdStore]:
    """A second store on the same prefix: what another replica sees."""
    opened = EtcdStore.from_url(etcd.url("unit"), timeout=2.0)
    try:
        yield opened
    finally:
        await opened.close()


def test_urls() -> None:
    address = parse_etcd_url("etcd://10.0.0.1:2379,etcd-2,[::1]:32379/prod/edge/")
    assert address.endpoints == (("10.0.0.1", 2379), ("etcd-2", 2379), ("::1", 32379))
    assert address.prefix == "/prod/edge"
    assert str(address) == "etcd://10.0.0.1:2379,etcd-2:2379,[::1]:32379/prod/edge"
    assert parse_etcd_url("etcd://127.0.0.1:1").prefix == DEFAULT_PREFIX
    for bad in ("http://x:1/p", "etcd:///p", "etcd://h:port/p", "etcd://h:70000/p"):
        with pytest.raises(ValueError):
            parse_etcd_url(bad)
    with pytest.raises(StoreError, match="not an etcd URL"):
        EtcdStore.from_url("etcd2://x")


async def test_the_state_revision_is_the_last_state_writes(
    store: EtcdStore, other: EtcdStore
) -> None:
    """Beside what every store does (tests/etcd/test_store_contract.py): etcd's revision moves
    with unrelated keys, the state's does not; and a delete always moves it."""
    written = await store.put_weights("payments", 0, {"stable": 75, "canary": 25})
    # Unrelated keys (replica registrations) do not move the state revision.
    lease = await other.grant_lease(5)
    await other.put_replica("r1", {"id": "r1"}, lease)
    assert (await store.load()).revision == written.revision

    # Deleting what is not there succeeds and still moves the state revision.
    before = (await store.load()).revision
    assert await store.delete_weights("nothing", 3) > before


async def test_watch_sees_other_writers(store: EtcdStore, other: EtcdStore) -> None:
    start = (await store.load()).revision
    revisions: list[int] = []

    async def follow() -> None:
        async with contextlib.aclosing(store.watch_state(start + 1)) as changes:
            async for revision in changes:
                revisions.append(revision)
                if len(set(revisions)) == 3:
                    return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.2)
    written = [
        (await other.put_weights("payments", 0, {"stable": 1, "canary": 1})).revision,
        await other.delete_weights("payments", 0),
        (await other.put_weights("payments", 1, {"stable": 2, "canary": 1})).revision,
    ]
    await asyncio.wait_for(task, 5.0)
    assert sorted(set(revisions)) == written
    # The writer knows these were its own; the watcher's store did not write them.
    assert set(written) <= other.own_revisions
    assert not store.own_revisions


async def test_watch_replays_from_a_revision(store: EtcdStore, other: EtcdStore) -> None:
    """A follower that was away resumes from its revision + 1 and misses nothing."""
    first = await other.put_weights("payments", 0, {"stable": 1, "canary": 1})
    second = await other.put_weights("payments", 0, {"stable": 2, "canary": 1})
    seen: list[int] = []
    async with contextlib.aclosing(store.watch_state(first.revision)) as changes:
        async for revision in changes:
            seen.append(revision)
            if revision >= second.revision:
                break
    assert sorted(set(seen)) == [first.revision, second.revision]


async def test_watch_from_a_compacted_revision(
    etcd: EtcdServer, store: EtcdStore, other: EtcdStore
) -> None:
    first = await other.put_weights("payments", 0, {"stable": 1, "canary": 1})
    last = first
    for weight in range(2, 6):
        last = await other.put_weights("payments", 0, {"stable": weight, "canary": 1})
    async with aetcd.Client(host="127.0.0.1", port=etcd.client_port, timeout=5) as raw:
        await raw.compact(last.revision)
    with pytest.raises(StoreCompacted) as compacted:
        async with contextlib.aclosing(store.watch_state(first.revision + 1)) as changes:
            async for _ in changes:
                pass
    assert compacted.value.compacted >= last.revision
    # What the follower does then: read everything and go on from the read.
    state = await store.load()
    assert state.overrides[("payments", 0)].weights == {"stable": 5, "canary": 1}
    assert store.read_revision >= last.revision


async def test_replica_registrations_and_leases(store: EtcdStore, other: EtcdStore) -> None:
    long_lease = await store.grant_lease(30)
    short_lease = await other.grant_lease(1)
    await store.put_replica("a", {"id": "a", "xds_address": "127.0.0.1:1"}, long_lease)
    await other.put_replica("b", {"id": "b", "xds_address": "127.0.0.1:2"}, short_lease)
    assert sorted(r["id"] for r in await store.list_replicas()) == ["a", "b"]
    assert await store.keep_alive(long_lease) > 0

    # b stops renewing: its lease runs out and etcd drops its key.
    deadline = time.monotonic() + 6.0
    while [r["id"] for r in await store.list_replicas()] != ["a"]:
        assert time.monotonic() < deadline, "the expired replica is still listed"
        await asyncio.sleep(0.2)
    assert await other.keep_alive(short_lease) == 0

    await store.revoke_lease(long_lease)
    assert await other.list_replicas() == []


async def test_unreachable_etcd_refuses_writes_then_recovers(
    etcd: EtcdServer, store: EtcdStore
) -> None:
    before = await store.put_weights("payments", 0, {"stable": 90, "canary": 10})
    assert store.available
    await asyncio.to_thread(etcd.stop)

    started = time.monotonic()
    with pytest.raises(StoreError, match=r"etcd at 127\.0\.0\.1:\d+ is unreachable"):
        await store.put_weights("payments", 0, {"stable": 0, "canary": 100})
    assert time.monotonic() - started < 2.0, "a refused connection must fail fast"
    assert not store.available
    assert store.error is not None and "unreachable" in store.error
    assert store.unavailable_since is not None
    with pytest.raises(StoreError):
        await store.load()

    await asyncio.to_thread(etcd.start)
    deadline = time.monotonic() + 10.0
    while True:
        try:
            after = await store.put_weights("payments", 0, {"stable": 0, "canary": 100})
            break
        except StoreError:
            assert time.monotonic() < deadline, "etcd is back but writes still fail"
            await asyncio.sleep(0.2)
    assert store.available and store.error is None
    assert after.revision > before.revision
    assert (await store.load()).overrides[("payments", 0)].weights == {"stable": 0, "canary": 100}


async def test_moves_to_the_next_endpoint(etcd: EtcdServer) -> None:
    """A member that does not answer costs one failed call; the store then uses the next one."""
    (dead,) = free_ports(1)
    store = EtcdStore.from_url(f"etcd://127.0.0.1:{dead},{etcd.endpoint}/unit", timeout=2.0)
    try:
        with pytest.raises(StoreError, match=f"127.0.0.1:{dead} is unreachable"):
            await store.put_weights("payments", 0, {"stable": 1, "canary": 1})
        written = await store.put_weights("payments", 0, {"stable": 2, "canary": 1})
        assert store.available and store.endpoint == etcd.endpoint
        assert (await store.load()).revision == written.revision
    finally:
        await store.close()


async def test_one_replica_holds_a_claim_until_its_lease_goes(
    store: EtcdStore, other: EtcdStore
) -> None:
    mine = await store.grant_lease(5)
    theirs = await other.grant_lease(5)
    assert await store.claim("rollout/payments", "cp-1", mine) == "cp-1"
    assert await other.claim("rollout/payments", "cp-2", theirs) == "cp-1"
    assert await store.claim("rollout/payments", "cp-1", mine) == "cp-1", "claiming again holds"
    await store.revoke_lease(mine)
    assert await other.claim("rollout/payments", "cp-2", theirs) == "cp-2"
