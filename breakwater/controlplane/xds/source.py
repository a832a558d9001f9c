"""The seam between the xDS server and whatever holds the snapshots.

The server only needs to place a proxy in a group, read that group's
current snapshot and be woken when it changes. Naming exactly that as a
protocol keeps the server free of the cache's other duties (publishing,
consistency checks, generations) and lets tests or another cache stand in;
:class:`~breakwater.controlplane.xds.cache.SnapshotCache` satisfies it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol, TypeAlias

from .resources import Snapshot

Node: TypeAlias = Any
"""An ``envoy.config.core.v3.Node`` message (the generated classes carry no types)."""


class Wakeable(Protocol):
    """What a stream hands the cache to be woken by: an ``asyncio.Event`` or anything with
    ``set()``, called from the event loop."""

    def set(self) -> None: ...


class SnapshotSource(Protocol):
    """What the ADS servicer asks of a snapshot cache; call it from the server's event loop."""

    def group_of(self, node: Node) -> Hashable:
        """The group whose snapshot the proxy ``node`` is served (it must be hashable)."""

    def get_snapshot(self, group: Hashable) -> Snapshot | None:
        """The group's current snapshot; ``None`` while it has none (nothing is sent)."""

    def watch(self, group: Hashable, event: Wakeable) -> None:
        """Set ``event`` on every change of the group's snapshot, and at once if it has one."""

    def unwatch(self, group: Hashable, event: Wakeable) -> None:
        """Stop setting ``event``; the stream that owned it has ended."""


__all__ = ["Node", "SnapshotSource", "Wakeable"]
