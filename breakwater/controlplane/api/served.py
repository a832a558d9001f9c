"""What each node group is served, as the API hands it out and `breakwater diff` compares it.

Both sides turn a :class:`~breakwater.controlplane.xds.resources.Resource`
into its JSON here, once, so that a resource the server serves and the same
resource built from a candidate directory come out as equal dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from google.protobuf import json_format

from breakwater.controlplane.api.policy_models import ServedGroup, ServedResource
from breakwater.controlplane.groups import group_zone, is_group_key
from breakwater.controlplane.xds.resources import Resource, Snapshot, short_name


def resource_config(resource: Resource) -> dict[str, Any]:
    """The resource in proto3 JSON with snake_case names (its ``@type`` first, as Envoy prints)."""
    config: dict[str, Any] = json_format.MessageToDict(
        resource.unpack(), preserving_proto_field_name=True
    )
    return config


def served_resources(snapshot: Snapshot) -> list[ServedResource]:
    """Every resource of a snapshot, in push order and then by name."""
    return [
        ServedResource(
            type=short_name(type_url),
            name=name,
            version=resource.version,
            config=resource_config(resource),
        )
        for type_url in snapshot.type_urls
        for name, resource in sorted(snapshot.resources(type_url).items())
    ]


def served_groups(
    snapshots: Iterable[tuple[Hashable, Snapshot]], gateways_of: Callable[[Any], frozenset[str]]
) -> list[ServedGroup]:
    """One entry per group key, sorted; keys that are not (cluster, metadata[, zone]) are left
    out."""
    groups: list[ServedGroup] = []
    for key, snapshot in snapshots:
        if not is_group_key(key):
            continue
        cluster, metadata = key[0], key[1]  # type: ignore[index]
        groups.append(
            ServedGroup(
                node_cluster=cluster,
                node_metadata=dict(metadata),
                node_zone=group_zone(key),
                gateways=sorted(gateways_of(key)),
                version=snapshot.version,
                resources=served_resources(snapshot),
            )
        )
    return sorted(
        groups, key=lambda g: (g.node_cluster, sorted(g.node_metadata.items()), g.node_zone or "")
    )


__all__ = ["resource_config", "served_groups", "served_resources"]
