"""Node groups: proxies that see the same gateways share one translation and one snapshot.

A group is keyed by everything a Gateway's nodeSelector can look at, the
node's cluster and its string metadata; the key is what the snapshot cache,
the reconciler and the API's answers share.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple

from breakwater.translators.proxyless import client_profile

GroupKey = tuple[str, tuple[tuple[str, str], ...]]


class ProxylessKey(NamedTuple):
    """The group of proxyless gRPC clients of one profile: they are served every service they
    may dial (each asks for the names it dials), whatever their node's cluster or metadata."""

    profile: str


def group_key(node: Any) -> GroupKey | ProxylessKey:
    """(node.cluster, sorted string metadata): everything a nodeSelector can look at; for a
    gRPC client (`user_agent_name`), its profile instead."""
    profile = client_profile(str(node.user_agent_name))
    if profile is not None:
        return ProxylessKey(profile)
    metadata: list[tuple[str, str]] = []
    if node.HasField("metadata"):
        for key, value in node.metadata.fields.items():
            if value.WhichOneof("kind") == "string_value":
                metadata.append((key, value.string_value))
    return (str(node.cluster), tuple(sorted(metadata)))


def group_label(group: Hashable) -> str:
    """A group as people read it: `edge`, or `edge (region=eu, tier=gold)` with metadata.

    The same text in the API, the console and metric labels, where the key's Python form
    (`('edge', ())`) would mean nothing to anyone.
    """
    if isinstance(group, ProxylessKey):
        return f"proxyless {group.profile}"
    if not (isinstance(group, tuple) and len(group) == 2 and isinstance(group[0], str)):
        return str(group)
    cluster: str = group[0]
    metadata = group[1]
    if not metadata:
        return cluster
    return f"{cluster} ({', '.join(f'{key}={value}' for key, value in metadata)})"
