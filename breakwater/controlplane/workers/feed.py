"""A group's snapshot on its way to the workers, and rebuilt in each without decoding.

What travels, per group and version: for each type of the snapshot, ``None`` when the type
holds the very resources the workers were sent last time for the group, else its resources
in order, each either its name (the worker keeps the resource it has) or, when new or
changed, ``(name, version, delta entry, references)``. A weight change in a large mesh is
then one route configuration's bytes and the names of the rest of its type.

A worker rebuilds each resource from its delta entry, the one form a `Resource` keeps (the
others are slices of it), without encoding anything, and makes its `Snapshot` with its
previous one, so types that did not change are taken over as they are; the version it comes
to is the parent's (the same resources, versioned by content).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from typing import TypeAlias

from breakwater.controlplane.xds.resources import Ref, Resource, Snapshot

log = logging.getLogger(__name__)

Wire: TypeAlias = tuple[str, str, bytes, frozenset[Ref]]
"""A resource as it travels: name, version, delta entry (`Resource.delta_entry`), references."""
TypeFeed: TypeAlias = list[str | Wire] | None
"""One type of a fed snapshot: None (unchanged), else each resource by name or in full."""
Feed: TypeAlias = tuple[Hashable, str, dict[str, TypeFeed]]
"""A group's snapshot: (group, version, type URL → what changed of it)."""


def to_feed(group: Hashable, snapshot: Snapshot, previous: Snapshot | None) -> Feed:
    """What workers that hold `previous` for the group (None: nothing) need to hold `snapshot`."""
    types: dict[str, TypeFeed] = {}
    for type_url in snapshot.type_urls:
        resources = snapshot.resources(type_url)
        before: Mapping[str, Resource] = {}
        if previous is not None:
            before = previous.resources(type_url)
            if before is resources or (
                type_url in previous.type_urls
                and previous.type_version(type_url) == snapshot.type_version(type_url)
            ):
                types[type_url] = None
                continue
        items: list[str | Wire] = []
        for name, resource in resources.items():
            kept = before.get(name)
            if kept is not None and kept.version == resource.version:
                items.append(name)
            else:
                items.append((name, resource.version, resource.delta_entry, resource.refs))
        types[type_url] = items
    return group, snapshot.version, types


def rebuild(type_url: str, wire: Wire) -> Resource:
    """The resource the parent encoded, from the very bytes it keeps."""
    name, version, entry, refs = wire
    return Resource(type_url, name, version, refs=refs, delta_entry=entry)


class FedSnapshots:
    """A worker's side: each group's last snapshot, and the lists it was made from."""

    def __init__(self) -> None:
        self._snapshots: dict[Hashable, Snapshot] = {}
        self._lists: dict[Hashable, dict[str, list[Resource]]] = {}

    def apply(self, feed: Feed) -> tuple[Hashable, Snapshot]:
        """The group's new snapshot; a type fed as None keeps its list, so the `Snapshot`
        takes it over without looking at it."""
        group, version, types = feed
        previous = self._snapshots.get(group)
        lists = self._lists.get(group, {})
        made: dict[str, list[Resource]] = {}
        for type_url, items in types.items():
            if items is None:
                made[type_url] = lists[type_url]
                continue
            before = previous.resources(type_url) if previous is not None else {}
            made[type_url] = [
                before[item] if isinstance(item, str) else rebuild(type_url, item) for item in items
            ]
        snapshot = Snapshot(made, previous)
        if snapshot.version != version:
            log.error(
                "group %r: the snapshot rebuilt here is version %s, the parent's %s",
                group,
                snapshot.version,
                version,
            )
        self._snapshots[group] = snapshot
        self._lists[group] = made
        return group, snapshot

    def forget(self, group: Hashable) -> None:
        self._snapshots.pop(group, None)
        self._lists.pop(group, None)


__all__ = ["FedSnapshots", "Feed", "TypeFeed", "Wire", "rebuild", "to_feed"]
