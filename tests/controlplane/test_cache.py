"""The snapshot cache: groups, publication, wake-ups and the consistency check."""

from __future__ import annotations

import asyncio

import pytest
from envoy.config.core.v3 import base_pb2

from breakwater.controlplane.xds.cache import SnapshotCache, SnapshotError
from breakwater.controlplane.xds.resources import CLUSTER_TYPE, Snapshot
from tests.controlplane import builders


def config(port: int = 1) -> Snapshot:
    return builders.snapshot(backends={"a": [port]}, weights={"a": 1}, listener_port=8080)


def test_groups_come_from_the_injected_function():
    by_cluster = SnapshotCache()
    node = base_pb2.Node(id="n1", cluster="edge")
    assert by_cluster.group_of(node) == "edge"
    by_id = SnapshotCache(lambda n: ("proxy", n.id))
    assert by_id.group_of(node) == ("proxy", "n1")


async def test_publishing_wakes_only_the_groups_watchers():
    cache = SnapshotCache()
    edge, internal = asyncio.Event(), asyncio.Event()
    cache.watch("edge", edge)
    cache.watch("internal", internal)
    assert not edge.is_set()

    assert cache.set_snapshot("edge", config())
    assert edge.is_set() and not internal.is_set()
    assert cache.generation("edge") == 1 and cache.generation("internal") == 0

    edge.clear()
    assert not cache.set_snapshot("edge", config())  # same content: nobody is woken
    assert not edge.is_set() and cache.generation("edge") == 1
    assert cache.set_snapshot("edge", config(port=2))
    assert edge.is_set() and cache.generation("edge") == 2

    cache.unwatch("edge", edge)
    edge.clear()
    cache.set_snapshot("edge", config(port=3))
    assert not edge.is_set()
    assert cache.watcher_count("edge") == 0 and cache.watcher_count("internal") == 1


async def test_a_new_watcher_is_woken_when_a_snapshot_exists():
    cache = SnapshotCache()
    cache.set_snapshot("edge", config())
    event = asyncio.Event()
    cache.watch("edge", event)
    assert event.is_set()


def test_inconsistent_snapshots_are_refused_unless_forced():
    cache = SnapshotCache()
    dangling = Snapshot.from_messages(
        {CLUSTER_TYPE: [builders.eds_cluster("a")]}  # its endpoints are missing
    )
    with pytest.raises(SnapshotError) as raised:
        cache.set_snapshot("edge", dangling)
    assert raised.value.problems == ["cds 'a' references eds 'a', which is not in the snapshot"]
    assert "edge" in str(raised.value)
    assert cache.get_snapshot("edge") is None

    assert cache.set_snapshot("edge", dangling, check=False)
    assert cache.get_snapshot("edge") is dangling


def test_clearing_a_group_forgets_it():
    cache = SnapshotCache()
    snapshot = config()
    cache.set_snapshot("edge", snapshot)
    assert cache.groups() == ["edge"] and list(cache) == [("edge", snapshot)]
    cache.clear_snapshot("edge")
    assert cache.get_snapshot("edge") is None and cache.groups() == []
