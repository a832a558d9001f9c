"""A restart on unchanged inputs serves the snapshots of the last run before its read ends; any
changed input (a file, an override in the store, another build) or a damaged file is the whole
path."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from breakwater.controlplane.app import ControlPlane, ServeConfig
from breakwater.controlplane.state import snapshot_store
from breakwater.controlplane.state.replicas import open_store
from breakwater.xds_types import CLUSTER_TYPE, LISTENER_TYPE
from tests.support.ads import AdsClient
from tests.support.gated_source import GatedDirectory
from tests.support.policies import NODE_CLUSTER, ROUTE, PolicyDir

OVERRIDE = {"stable": 70, "canary": 30}
GROUP = (NODE_CLUSTER, ())
"""The node group of the proxies `AdsClient` plays."""


def _plane(policies: PolicyDir, state: Path) -> tuple[ControlPlane, GatedDirectory]:
    config = ServeConfig(
        policy_dir=policies.path,
        state_dir=state,
        xds_port=0,
        admin_port=0,
        debounce_quiet=0.01,
        debounce_cap=0.1,
    )
    plane = ControlPlane(config)
    gated = GatedDirectory(policies.path)
    plane.source = plane.controller.source = gated
    return plane, gated


async def _versions(port: int) -> dict[str, str]:
    """What a fresh proxy is sent first: the version of its clusters and listeners."""
    async with AdsClient(port) as client:
        versions = {}
        for type_url in (CLUSTER_TYPE, LISTENER_TYPE):
            await client.request(type_url)
            versions[type_url] = (await client.recv(timeout=10)).version_info
        return versions


async def _read_done(plane: ControlPlane) -> None:
    while plane.controller.state.base is None:
        await asyncio.sleep(0.01)


@asynccontextmanager
async def _starting(
    plane: ControlPlane, gated: GatedDirectory, *, read: bool = False
) -> AsyncIterator[None]:
    """Start `plane`; the body runs while its first read waits to be released, or, with
    `read`, once the start is done."""
    start = asyncio.create_task(plane.start())
    try:
        assert await asyncio.to_thread(gated.reading.wait, 10), "the read never began"
        if read:
            gated.release()
            await asyncio.wait_for(start, 30)
        yield
        gated.release()
        await asyncio.wait_for(start, 30)
    finally:
        gated.release()
        if not start.done():
            start.cancel()
        await plane.stop(grace=0.1)


async def _first_run(policies: PolicyDir, state: Path) -> dict[str, str]:
    """A run that reads, serves a proxy, takes an override, and stops; what it served last."""
    plane, gated = _plane(policies, state)
    async with _starting(plane, gated, read=True):
        pass
    plane, gated = _plane(policies, state)
    async with _starting(plane, gated, read=True):
        await plane.controller.set_weights(ROUTE, 0, OVERRIDE, None)
        await plane.reconciler.flush()
        return await _versions(plane.xds_port)


async def test_a_restart_on_unchanged_inputs_serves_the_last_versions_before_its_read(
    tmp_path: Path,
) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    state = tmp_path / "state"
    served = await _first_run(policies, state)
    kept = state / snapshot_store.FILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    plane, gated = _plane(policies, state)
    async with _starting(plane, gated), AdsClient(plane.xds_port) as proxy:
        # The read has not ended: nothing was read, yet the proxy is served; the admin API
        # (and so /readyz) opens only once the read is done: nothing it answers may come
        # from a policy set not read yet.
        assert plane.controller.state.base is None
        reason = plane.not_ready_reason()
        assert reason is not None and "kept from the last run" in reason
        assert plane.admin_port == 0
        kept_snapshot = plane.cache.get_snapshot(GROUP)
        versions = {}
        for type_url in (CLUSTER_TYPE, LISTENER_TYPE):
            await proxy.request(type_url)
            response = await proxy.recv(timeout=10)
            versions[type_url] = response.version_info
            await proxy.ack(response)
        assert versions == served
        gated.release()
        await asyncio.wait_for(_read_done(plane), 30)
        await plane.reconciler.flush()
        # The first build replaced the kept snapshot with the very same versions: the
        # proxy is sent nothing.
        assert plane.cache.get_snapshot(GROUP) is not kept_snapshot
        await proxy.silence(0.5)
    # The read and the first build are done: a fresh proxy gets the very same versions.
    plane, gated = _plane(policies, state)
    async with _starting(plane, gated, read=True):
        await plane.reconciler.flush()
        assert plane.controller.state.base is not None
        assert await _versions(plane.xds_port) == served


async def _change_file(policies: PolicyDir, state: Path) -> None:
    policies.write_weights({"stable": 60, "canary": 40})


async def _change_override(policies: PolicyDir, state: Path) -> None:
    store = open_store(state)
    try:
        await store.put_weights(ROUTE, 0, {"stable": 20, "canary": 80})
    finally:
        await store.close()


async def _change_build(policies: PolicyDir, state: Path) -> None:
    """Another Breakwater: the kept file is read by a build whose key differs."""


@pytest.mark.parametrize(
    "change",
    [_change_file, _change_override, _change_build],
    ids=["a policy file", "an override in the store", "the Breakwater build"],
)
async def test_changed_inputs_are_read_and_translated_before_anything_is_served(
    tmp_path: Path,
    change: Callable[[PolicyDir, Path], Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    state = tmp_path / "state"
    served = await _first_run(policies, state)
    await change(policies, state)
    if change is _change_build:
        monkeypatch.setattr(snapshot_store, "build_version", lambda: "another build")

    caplog.set_level(logging.INFO, "breakwater.controlplane.state.snapshot_store")
    plane, gated = _plane(policies, state)
    async with _starting(plane, gated):
        assert plane.xds_port == 0, "the xDS port opened before the read"
        assert plane.cache.groups() == []
        assert plane.not_ready_reason() is not None
    assert "changed since they were made" in caplog.text
    plane, gated = _plane(policies, state)
    async with _starting(plane, gated, read=True):
        await plane.reconciler.flush()
        versions = await _versions(plane.xds_port)
    if change is _change_build:  # the same inputs translate to the same resources
        assert versions == served
    else:
        assert versions[CLUSTER_TYPE] == served[CLUSTER_TYPE]
        assert versions[LISTENER_TYPE] == served[LISTENER_TYPE]


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _other_format(path: Path) -> None:
    path.write_bytes(b"something else entirely")


def _writable_by_others(path: Path) -> None:
    path.chmod(0o666)


@pytest.mark.parametrize("damage", [_cut_short, _flip_a_byte, _other_format, _writable_by_others])
async def test_a_damaged_file_is_ignored_with_a_log_line(
    tmp_path: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    state = tmp_path / "state"
    served = await _first_run(policies, state)
    damage(state / snapshot_store.FILE)

    plane, gated = _plane(policies, state)
    async with _starting(plane, gated):
        assert plane.xds_port == 0
        assert plane.cache.groups() == []
    assert "not serving the kept snapshots" in caplog.text
    # A run that serves a proxy writes a whole file again at its stop: the next one uses it.
    plane, gated = _plane(policies, state)
    async with _starting(plane, gated, read=True):
        assert await _versions(plane.xds_port) == served
    plane, gated = _plane(policies, state)
    async with _starting(plane, gated):
        assert await _versions(plane.xds_port) == served
