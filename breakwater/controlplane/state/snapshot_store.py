"""The last published snapshots kept in the state directory, so a restart serves proxies at once.

A restart on unchanged inputs would otherwise make proxies wait for the whole
first read, the checks across documents and the first translation (at 10 000
services, seconds of pydantic and protobuf work) before anything is served. What
the snapshots are made of depends only on their inputs, so they are kept with a
key of everything they were made from (`inputs_key`): Breakwater's version and a
hash of its source, the policy directory and the hash of every policy file's
bytes (the policy version), and the state store's weight overrides, drains,
Rollout progress and registered instances. At start, when the key of the inputs
found is the key kept, the kept snapshots are served at once (the very same
versions: a proxy that reconnects sees no change) while the full read and
translation run; the first build then replaces them like any change. Any other
key, a file cut short or corrupt (a checksum covers it), one others than the
server's user may write, or a format of another version is a miss: the file is left for the next write and the start takes the
whole path.

Translation reads nothing but the PolicySet (no certificate or secret files: those
the server reads are the API's token and the etcd credentials, which do not reach a
snapshot). Groups of proxies that named a zone are not kept: their snapshots depend
on how many proxies of their node cluster are connected in each zone, which a
restart does not know until they connect again.

The file is written atomically (a temporary file and a rename), readable by the
server's user only, after `SAVE_AFTER` seconds without a build (encoding a large
mesh's resources holds the GIL for a while) and at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import marshal
import os
import stat
from collections.abc import Hashable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import breakwater
from breakwater.controlplane.groups import ProxylessKey, group_zone, is_group_key
from breakwater.controlplane.state.controller import PolicyController, PolicySubscriber
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.translators.envoy.encoded import Resource
from breakwater.translators.policyset import PolicySet

log = logging.getLogger(__name__)

FILE = "snapshots.bin"
MAGIC = b"breakwater-snapshots-1\n"
"""The format's name and version: a file of another format is a miss."""
DIGEST_BYTES = 32
SAVE_AFTER = 10.0
"""Seconds without a build before the snapshots are written (and at shutdown)."""
KEYS_KEPT = 8
"""Inputs keys remembered for the PolicySets published last (builds may lag publishes)."""


@cache
def build_version() -> str:
    """Breakwater's version and a hash of its whole source (an edited checkout translates
    otherwise, and the generated protobuf modules encode)."""
    digest = hashlib.sha256(breakwater.__version__.encode())
    root = Path(breakwater.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def inputs_key(controller: PolicyController, policy_dir: Path, policy_version: str) -> str:
    """A hash of everything a published PolicySet (and so every snapshot) is made from: the
    build, the policy files and the store's state as the controller holds them now."""
    state = controller.state
    digest = hashlib.sha256(build_version().encode())
    digest.update(f"\0{policy_dir.resolve()}\0{policy_version}\0".encode())
    for override in sorted(state.overrides.values(), key=lambda o: (o.route, o.rule)):
        digest.update(
            repr((override.route, override.rule, sorted(override.weights.items()))).encode()
        )
    digest.update(b"\0drains\0")
    for service, endpoint in sorted(state.drains):  # a drain is served by its endpoint alone
        digest.update(f"{service}\0{endpoint}\n".encode())
    digest.update(b"\0rollouts\0")
    digest.update(json.dumps(controller.rollouts, sort_keys=True, default=repr).encode())
    digest.update(b"\0instances\0")
    for _, instance in sorted(state.instances.items()):
        digest.update(repr(instance.served()).encode())
    return digest.hexdigest()


def _kept_group(group: Hashable) -> tuple[str, Any] | None:
    """How a group is written, or None for one that is not kept (a zone's proxies)."""
    if isinstance(group, ProxylessKey):
        return ("proxyless", group.profile)
    if is_group_key(group) and group_zone(group) is None:
        return ("group", group)
    return None


def _group(written: tuple[str, Any]) -> Hashable:
    kind, value = written
    return ProxylessKey(value) if kind == "proxyless" else tuple(value)


def _resources(snapshot: Snapshot) -> tuple[Any, ...]:
    """Every field of each resource, the references grouped by type too (grouping them
    again for 40 000 resources would be most of a restart's load)."""
    return tuple(
        (
            type_url,
            tuple(
                (
                    r.name,
                    r.version,
                    r.any_bytes,
                    r.refs,
                    r.sotw_entry,
                    r.delta_entry,
                    r._refs_by_type,
                )
                for r in snapshot.resources(type_url).values()
            ),
        )
        for type_url in snapshot.type_urls
    )


def encode(key: str, snapshots: Mapping[Hashable, Snapshot]) -> bytes:
    """The file's bytes: the magic, a SHA-256 of the rest, then the key and each distinct
    snapshot's resources once, with the groups served it."""
    distinct: dict[int, int] = {}
    bodies: list[Any] = []
    groups: list[Any] = []
    for group, snapshot in snapshots.items():
        written = _kept_group(group)
        if written is None:
            continue
        if id(snapshot) not in distinct:
            distinct[id(snapshot)] = len(bodies)
            bodies.append((snapshot.version, _resources(snapshot)))
        groups.append((written, distinct[id(snapshot)]))
    payload = marshal.dumps((key, tuple(groups), tuple(bodies)))
    return MAGIC + hashlib.sha256(payload).digest() + payload


class Unreadable(Exception):
    """The file is not one this build wrote whole; the message says how."""


def decode(data: bytes) -> tuple[str, dict[Hashable, Snapshot]]:
    """The key and the snapshots by group; `Unreadable` for anything else than `encode` made."""
    if not data.startswith(MAGIC):
        raise Unreadable("of another format")
    digest, payload = (
        data[len(MAGIC) : len(MAGIC) + DIGEST_BYTES],
        data[len(MAGIC) + DIGEST_BYTES :],
    )
    if hashlib.sha256(payload).digest() != digest:
        raise Unreadable("cut short or corrupt (its checksum does not match)")
    try:
        key, groups, bodies = marshal.loads(payload)
        built: list[Snapshot] = []
        for version, types in bodies:
            snapshot = Snapshot(
                {
                    type_url: [
                        Resource(type_url, name, rv, packed, refs, sotw, delta, by_type)
                        for name, rv, packed, refs, sotw, delta, by_type in resources
                    ]
                    for type_url, resources in types
                }
            )
            if snapshot.version != version:
                raise Unreadable("inconsistent (a snapshot's version does not match its resources)")
            built.append(snapshot)
        return str(key), {_group(written): built[index] for written, index in groups}
    except (ValueError, TypeError, EOFError, IndexError) as exc:
        raise Unreadable(f"not readable ({exc})") from None


class SnapshotStore(PolicySubscriber):
    """Keeps the snapshots built of each PolicySet with the key of its inputs, in
    `<state directory>/snapshots.bin`, and gives them back at start when the inputs match."""

    def __init__(self, state_dir: Path, controller: PolicyController, policy_dir: Path) -> None:
        self.path = state_dir / FILE
        self._controller = controller
        self._policy_dir = policy_dir
        self._keys: dict[int, str] = {}
        """id of each PolicySet published last → the key of its inputs, taken when it was
        published (the controller's state is then exactly what it was made from)."""
        self._key: str | None = None
        self._snapshots: dict[Hashable, Snapshot] = {}
        """The snapshots of the PolicySet last built, by group, to write."""
        self._written: tuple[str | None, dict[Hashable, str]] = (None, {})
        self._saving: asyncio.Task[None] | None = None
        self._save_due = 0.0

    def key_now(self, policy_version: str) -> str:
        return inputs_key(self._controller, self._policy_dir, policy_version)

    def on_policies(self, policyset: PolicySet, changed_at: float) -> None:
        self._keys[id(policyset)] = self.key_now(self._controller.state.policy_version)
        while len(self._keys) > KEYS_KEPT:
            del self._keys[next(iter(self._keys))]

    def built(self, policyset: PolicySet, snapshots: Mapping[Hashable, Snapshot]) -> None:
        """The reconciler put these snapshots of `policyset` in the cache; keep them."""
        key = self._keys.get(id(policyset))
        if key is None:
            return
        if key != self._key:
            self._key, self._snapshots = key, {}
        self._snapshots.update(snapshots)
        self._schedule()

    def _schedule(self) -> None:
        self._save_due = asyncio.get_running_loop().time() + SAVE_AFTER
        if self._saving is not None and not self._saving.done():
            return

        async def save() -> None:
            loop = asyncio.get_running_loop()
            while (wait := self._save_due - loop.time()) > 0:
                await asyncio.sleep(wait)
            await asyncio.to_thread(self.save)

        self._saving = asyncio.get_running_loop().create_task(save(), name="keep snapshots")

    def save(self) -> None:
        """Write the snapshots last built (atomically, mode 0600), unless already written."""
        key, snapshots = self._key, dict(self._snapshots)
        versions = {group: snapshot.version for group, snapshot in snapshots.items()}
        if key is None or not snapshots or self._written == (key, versions):
            return
        temporary = self.path.with_name(f".{FILE}.{os.getpid()}")
        try:
            data = encode(key, snapshots)
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            with os.fdopen(os.open(temporary, flags, 0o600), "wb") as file:
                file.write(data)
            os.replace(temporary, self.path)
            self._written = (key, versions)
        except (OSError, ValueError) as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            log.warning("could not keep the served snapshots in %s: %s", self.path, exc)

    def load(self, policy_version: str) -> dict[Hashable, Snapshot]:
        """The kept snapshots by group when they were made from the inputs found now (this
        build, these policy files, this store state); empty otherwise (logged)."""
        try:
            with open(self.path, "rb") as file:
                status = os.fstat(file.fileno())
                if status.st_uid != os.getuid() or status.st_mode & 0o022:
                    log.warning(
                        "not serving the kept snapshots: %s may be changed by other users "
                        "than this server's (mode %o); it is written again, mode 600",
                        self.path,
                        stat.S_IMODE(status.st_mode),
                    )
                    return {}
                data = file.read()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("not serving the kept snapshots: cannot read %s: %s", self.path, exc)
            return {}
        enabled = gc.isenabled()
        gc.disable()  # 40 000 resources and no cycle: collections would only walk them
        try:
            key, snapshots = decode(data)
        except Unreadable as exc:
            log.warning("not serving the kept snapshots: %s is %s", self.path, exc)
            return {}
        finally:
            if enabled:
                gc.enable()
        if key != self.key_now(policy_version):
            log.info(
                "not serving the kept snapshots: the policy files, the state store or "
                "Breakwater changed since they were made"
            )
            return {}
        self._written = (key, {group: s.version for group, s in snapshots.items()})
        return snapshots

    async def close(self) -> None:
        """Write what was built since the last write, now: a restart right after finds it."""
        saving, self._saving = self._saving, None
        if saving is not None:
            saving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saving
        await asyncio.to_thread(self.save)


__all__ = ["FILE", "SnapshotStore", "Unreadable", "build_version", "decode", "encode", "inputs_key"]
