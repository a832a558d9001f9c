"""Snapshots per node group, and the wake-up path from a new snapshot to the streams.

The cache does not decide which proxies belong together: the policy layer
injects ``node_group`` and translates once per group. A push costs one
``Event.set()`` per connected stream of the group; each stream works out on
its own schedule what, if anything, it has to send.

All methods must be called from the event loop thread that runs the xDS
server (``Wakeable`` is not thread-safe).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from typing import TypeAlias

from .resources import Snapshot
from .source import Node, Wakeable

log = logging.getLogger(__name__)

NodeGroup: TypeAlias = Callable[[Node], Hashable]


class SnapshotError(ValueError):
    """A snapshot that would leave proxies with dangling references."""

    def __init__(self, group: Hashable, problems: list[str]) -> None:
        self.group = group
        self.problems = problems
        listed = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"snapshot for group {group!r} is inconsistent: {listed}{more}")


def node_cluster(node: Node) -> Hashable:
    """Group proxies by ``node.cluster``: the usual choice, and the default."""
    return str(getattr(node, "cluster", ""))


class SnapshotCache:
    """The snapshot of every node group: what the policy layer publishes, what the server reads.

    The server sees only the :class:`~.source.SnapshotSource` part of it.
    """

    def __init__(self, node_group: NodeGroup = node_cluster) -> None:
        self._node_group = node_group
        self._snapshots: dict[Hashable, Snapshot] = {}
        self._watchers: dict[Hashable, set[Wakeable]] = {}
        self._generations: dict[Hashable, int] = {}

    def group_of(self, node: Node) -> Hashable:
        return self._node_group(node)

    def set_snapshot(self, group: Hashable, snapshot: Snapshot, *, check: bool = True) -> bool:
        """Publish a snapshot for a group; returns whether anything changed.

        With ``check`` (the default) a snapshot whose resources point at
        resources it does not contain is refused. ``check=False`` publishes
        anything, including resources a proxy will reject: the server must
        cope with that, and tests exercise it.
        """
        if check:
            problems = snapshot.problems()
            if problems:
                raise SnapshotError(group, problems)
        current = self._snapshots.get(group)
        if current is not None and current.version == snapshot.version:
            return False
        self._snapshots[group] = snapshot
        self._generations[group] = self._generations.get(group, 0) + 1
        log.debug("group %r: snapshot %r", group, snapshot)
        self._wake(group)
        return True

    def get_snapshot(self, group: Hashable) -> Snapshot | None:
        return self._snapshots.get(group)

    def clear_snapshot(self, group: Hashable) -> None:
        """Forget a group. Its proxies keep what they have; nothing is withdrawn."""
        self._snapshots.pop(group, None)
        self._generations.pop(group, None)

    def generation(self, group: Hashable) -> int:
        """How many different snapshots the group has had; 0 before the first."""
        return self._generations.get(group, 0)

    def groups(self) -> list[Hashable]:
        return list(self._snapshots)

    def watch(self, group: Hashable, event: Wakeable) -> None:
        """Have ``event`` set whenever the group's snapshot changes.

        If the group already has a snapshot the event is set at once, so a
        new stream does not wait for the next change.
        """
        self._watchers.setdefault(group, set()).add(event)
        if group in self._snapshots:
            event.set()

    def unwatch(self, group: Hashable, event: Wakeable) -> None:
        watchers = self._watchers.get(group)
        if watchers is None:
            return
        watchers.discard(event)
        if not watchers:
            del self._watchers[group]

    def watcher_count(self, group: Hashable) -> int:
        return len(self._watchers.get(group, ()))

    def __iter__(self) -> Iterator[tuple[Hashable, Snapshot]]:
        return iter(list(self._snapshots.items()))

    def _wake(self, group: Hashable) -> None:
        for event in self._watchers.get(group, ()):
            event.set()


__all__ = ["NodeGroup", "SnapshotCache", "SnapshotError", "node_cluster"]
