"""Node groups: proxies that see the same gateways share one translation and one snapshot.

A group is keyed by everything a Gateway's nodeSelector can look at, the
node's cluster and its string metadata, and by the zone of its locality
when it has one (`breakwater bootstrap --zone`): zone failover gives each
zone's proxies their own priorities. The key is what the snapshot cache,
the reconciler and the API's answers share.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple

from breakwater.translators.proxyless import client_profile

Metadata = tuple[tuple[str, str], ...]
GroupKey = tuple[str, Metadata] | tuple[str, Metadata, str]
"""(node.cluster, sorted string metadata), and the zone after them when the node has one."""


class ProxylessKey(NamedTuple):
    """The group of proxyless gRPC clients of one profile: they are served every service they
    may dial (each asks for the names it dials), whatever their node's cluster or metadata."""

    profile: str


def group_key(node: Any) -> GroupKey | ProxylessKey:
    """(node.cluster, sorted string metadata[, zone]): what a nodeSelector can look at, and
    the zone the node's locality names; for a gRPC client (`user_agent_name`), its profile
    instead."""
    profile = client_profile(str(node.user_agent_name))
    if profile is not None:
        return ProxylessKey(profile)
    metadata: list[tuple[str, str]] = []
    if node.HasField("metadata"):
        for key, value in node.metadata.fields.items():
            if value.WhichOneof("kind") == "string_value":
                metadata.append((key, value.string_value))
    zone = str(node.locality.zone) if node.HasField("locality") else ""
    if zone:
        return (str(node.cluster), tuple(sorted(metadata)), zone)
    return (str(node.cluster), tuple(sorted(metadata)))


def is_group_key(key: object) -> bool:
    return (
        isinstance(key, tuple)
        and len(key) in (2, 3)
        and isinstance(key[0], str)
        and isinstance(key[1], tuple)
    )


def group_zone(key: object) -> str | None:
    """The zone of the group's proxies, None when they named none."""
    if is_group_key(key) and len(key) == 3:  # type: ignore[arg-type]
        return str(key[2])  # type: ignore[index]
    return None


def group_label(group: Hashable) -> str:
    """A group as people read it: `edge`, or `edge (region=eu, tier=gold)` with metadata.

    The same text in the API, the console and metric labels, where the key's Python form
    (`('edge', ())`) would mean nothing to anyone.
    """
    if isinstance(group, ProxylessKey):
        return f"proxyless {group.profile}"
    if not is_group_key(group):
        return str(group)
    cluster: str = group[0]  # type: ignore[index]
    pairs = [f"{key}={value}" for key, value in group[1]]  # type: ignore[index]
    zone = group_zone(group)
    if zone is not None:
        pairs.append(f"zone {zone}")
    if not pairs:
        return cluster
    return f"{cluster} ({', '.join(pairs)})"
