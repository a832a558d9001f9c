"""What the control plane holds for clients that left, and who may read what it keeps.

Node groups are keyed by what a proxy says about itself (its cluster and string
metadata), so anyone who reaches the xDS port can make new ones: a group
nobody watches must go (after a grace, so that a proxy that reconnects is
answered at once). The state database holds who changed what: only its owner
reads it.
"""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import struct_pb2

from breakwater.client import http
from breakwater.controlplane.state.store import SqliteStore
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.waiting import wait_until
from breakwater.xds_types import CLUSTER_TYPE
from tests.support.ads import AdsClient, BlockingAdsClient
from tests.support.policies import PolicyDir

GRACE = 0.5
"""The grace the tests give a node group with no stream (30 s when serving)."""


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlaneThread]:
    policies = PolicyDir.create(tmp_path / "policies")
    with ControlPlaneThread(policies.path, tmp_path / "state") as thread:
        assert thread.plane is not None
        thread.plane.reconciler.group_grace = GRACE
        yield thread


def visit(port: int, *visitors: str) -> None:
    """Short ADS calls, one after the other: each identifies with its own metadata
    (`pod: NAME`), takes the clusters and leaves."""

    async def visits() -> None:
        for name in visitors:
            async with AdsClient(port, name) as proxy:
                proxy.node.metadata.fields["pod"].CopyFrom(struct_pb2.Value(string_value=name))
                await proxy.request(CLUSTER_TYPE)
                assert (await proxy.recv(5.0)).type_url == CLUSTER_TYPE

    asyncio.run(visits())


def snapshot_groups(thread: ControlPlaneThread) -> int:
    reply = http("GET", f"{thread.admin_url}/v1/snapshots")
    assert reply.status == 200, reply.text
    return len(reply.body["groups"])


def test_node_groups_nobody_watches_are_dropped_after_a_grace(
    plane: ControlPlaneThread,
) -> None:
    assert plane.plane is not None
    cache = plane.plane.cache
    with BlockingAdsClient(plane.xds_port, "stays") as stays:
        stays.request(CLUSTER_TYPE)
        stays.recv(5.0)
        visit(plane.xds_port, *(f"visitor-{n}" for n in range(60)))
        assert len(cache.groups()) >= 2
        wait_until(lambda: len(cache.groups()) == 1, 10, "only the watched group left")
        assert snapshot_groups(plane) == 1
        # A change rebuilds only the group still watched.
        assert not plane.plane.reconciler.built_from.keys() - set(cache.groups())


def test_a_proxy_that_reconnects_within_the_grace_is_answered_at_once(
    plane: ControlPlaneThread,
) -> None:
    assert plane.plane is not None
    cache = plane.plane.cache
    visit(plane.xds_port, "comes-back")
    (group,) = cache.groups()
    built = plane.plane.reconciler.translations
    started = time.monotonic()
    visit(plane.xds_port, "comes-back")
    assert time.monotonic() - started < GRACE
    assert cache.get_snapshot(group) is not None
    assert plane.plane.reconciler.translations == built, "the group was built again"
    wait_until(lambda: not cache.groups(), 10, "the group dropped once nobody watches it")


def test_the_state_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    store = SqliteStore(directory)
    try:
        assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0
        files = [p for p in directory.iterdir() if p.name.startswith(SqliteStore.FILENAME)]
        assert store.path in files
        for path in files:  # the database, its WAL and its shared memory
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))
    finally:
        asyncio.run(store.close())
