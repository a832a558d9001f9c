"""A PolicySet → the Envoy resources of one node group, as messages and as a config dump.

Proxies are grouped by the gateways their node selects, and translation runs
once per group, not once per proxy: a thousand edge proxies with the same
node cluster cost one translation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from breakwater.translators.envoy.build import Builder, Built
from breakwater.translators.envoy.encoded import Resource
from breakwater.translators.ir.memo import Memo
from breakwater.translators.ir.mesh import resolve_mesh
from breakwater.translators.ir.resolve import resolve
from breakwater.translators.policyset import PolicySet
from breakwater.translators.proxyless import Proxyless
from breakwater.translators.route_patch import EncodedHosts, Translated, patched
from breakwater.xds_types import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
)

TYPE_URLS = PUSH_ORDER
"""In make-before-break order: CDS, EDS, LDS, RDS."""

CONFIG_DUMP_KEYS: Mapping[str, str] = {
    CLUSTER_TYPE: "clusters",
    ENDPOINT_TYPE: "endpoints",
    LISTENER_TYPE: "listeners",
    ROUTE_TYPE: "routes",
}

BuildTarget = Iterable[str] | Proxyless
"""What a node group is built from: the gateways its proxies serve, or, for proxyless gRPC
clients, every service they may dial."""

Resources = dict[str, list[Message]]
"""Type URL → resources of that type, sorted by name; every type URL is present."""


def node_group(
    policyset: PolicySet, node_cluster: str, node_metadata: Mapping[str, str]
) -> frozenset[str]:
    """The gateways a proxy serves; a gateway without a nodeSelector is served by every proxy."""
    metadata = dict(node_metadata)
    return frozenset(
        name
        for name, gateway in policyset.gateways.items()
        if gateway.spec.node_selector is None
        or gateway.spec.node_selector.matches(node_cluster, metadata)
    )


_GroupKey = tuple[frozenset[str], str | None, tuple[tuple[str, int], ...]]
"""A gateway set, the zone of its proxies and their node cluster's proxies by zone."""


class Translator:
    """PolicySet → encoded resources of a node group, keeping what it resolved and built.

    The server keeps one (`controlplane.reconciler`). Each `translate` call is a
    generation of both caches: what it did not use is dropped at the next. A
    gateway set whose PolicySet differs from the last one it was translated
    from by route rules alone is translated again from that translation
    (`route_patch`), without visiting the rest. Not thread-safe: one build at a
    time.
    """

    def __init__(self) -> None:
        self._memo = Memo()
        self._builder = Builder()
        self._last: dict[_GroupKey, Translated] = {}
        self._now: dict[_GroupKey, Translated] = {}
        self.patched = 0
        """Translations made from the last one by its changed routes alone."""

    @property
    def built(self) -> int:
        """Pieces translated so far (`Builder.built`)."""
        return self._builder.built

    def next_generation(self) -> None:
        self._memo.next_generation()
        self._builder.next_generation()
        if self._now:
            self._last, self._now = self._now, {}

    def translate(
        self,
        policyset: PolicySet,
        group: BuildTarget,
        zone: str | None = None,
        local: Sequence[tuple[str, int]] = (),
    ) -> Built:
        """`zone`: the proxies' zone; `local`: their node cluster's proxies by zone (neither
        is asked of proxyless clients)."""
        if isinstance(group, Proxyless):
            return self._builder.build_mesh(resolve_mesh(policyset, self._memo))
        gateways = frozenset(group)
        key = (gateways, zone, tuple(local))
        found = self._now.get(key)
        if found is not None and found.policyset is policyset:
            return found.built
        last = found or self._last.get(key)
        translated = None if last is None else patched(last, policyset)
        if translated is not None:
            self.patched += 1
            self._builder.built += translated.pieces
        else:
            ir = resolve(policyset, gateways, self._memo, zone, local)
            built = self._builder.build(ir)
            hosts = {
                node.name: EncodedHosts.of(
                    self._builder.encoded_hosts(node), [host.name for host in node.hosts]
                )
                for node in ir.routes
            }
            translated = Translated(policyset, gateways, ir, built, hosts)
        self._now[key] = translated
        return translated.built


def build(
    policyset: PolicySet,
    group: BuildTarget,
    zone: str | None = None,
    local: Sequence[tuple[str, int]] = (),
) -> Built:
    """The group's encoded resources, by the one build path, with nothing to reuse or keep."""
    if isinstance(group, Proxyless):
        return Builder(keep=False).build_mesh(resolve_mesh(policyset))
    return Builder(keep=False).build(resolve(policyset, group, None, zone, local))


def translate(
    policyset: PolicySet,
    group: BuildTarget,
    zone: str | None = None,
    local: Sequence[tuple[str, int]] = (),
) -> Resources:
    """The group's resources as messages (`render`, `explain`, the tests)."""
    return decoded(build(policyset, group, zone, local))


def decoded(built: Built) -> Resources:
    """Each encoded resource as its message again."""
    return {type_url: [_decoded(r) for r in resources] for type_url, resources in built.items()}


_MESSAGES: Mapping[str, type[Message]] = {
    CLUSTER_TYPE: cluster_pb2.Cluster,
    ENDPOINT_TYPE: endpoint_pb2.ClusterLoadAssignment,
    LISTENER_TYPE: listener_pb2.Listener,
    ROUTE_TYPE: route_pb2.RouteConfiguration,
}


def _decoded(resource: Resource) -> Message:
    message = _MESSAGES[resource.type_url]()
    resource.unpack().Unpack(message)
    return message


_KEYS_FIRST = {"@type": 0, "name": 1, "cluster_name": 1}


def _key_order(key: str) -> tuple[int, str]:
    return (_KEYS_FIRST.get(key, 2), key)


def _plain(value: Any) -> Any:
    """Plain dicts with sorted keys, and lists.

    Protobuf walks map fields (and Struct, as in the access log format) in an
    order that changes from one process to the next, so keys are sorted to
    make the dump byte-stable; what a resource is comes first. Protobuf also
    hands back OrderedDicts for `Any`, which YAML refuses.
    """
    if isinstance(value, Mapping):
        return {str(k): _plain(value[k]) for k in sorted(value, key=_key_order)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_config_dump(resources: Mapping[str, list[Message]]) -> dict[str, list[dict[str, Any]]]:
    """Proto3 JSON with snake_case names, as Envoy prints its own config dump, keys sorted."""
    return {
        key: [
            _plain(json_format.MessageToDict(message, preserving_proto_field_name=True))
            for message in resources.get(type_url, [])
        ]
        for type_url, key in CONFIG_DUMP_KEYS.items()
    }
