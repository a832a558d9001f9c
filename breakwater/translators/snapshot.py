"""A PolicySet → the Envoy resources of one node group, as messages and as a config dump.

Proxies are grouped by the gateways their node selects, and translation runs
once per group, not once per proxy: a thousand edge proxies with the same
node cluster cost one translation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
from breakwater.translators.ir.resolve import resolve
from breakwater.translators.policyset import PolicySet
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
        self._last: dict[frozenset[str], Translated] = {}
        self._now: dict[frozenset[str], Translated] = {}
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

    def translate(self, policyset: PolicySet, group: Iterable[str]) -> Built:
        gateways = frozenset(group)
        found = self._now.get(gateways)
        if found is not None and found.policyset is policyset:
            return found.built
        last = found or self._last.get(gateways)
        translated = None if last is None else patched(last, policyset)
        if translated is not None:
            self.patched += 1
            self._builder.built += translated.pieces
        else:
            ir = resolve(policyset, gateways, self._memo)
            built = self._builder.build(ir)
            hosts = {
                node.name: EncodedHosts.of(
                    self._builder.encoded_hosts(node), [host.name for host in node.hosts]
                )
                for node in ir.routes
            }
            translated = Translated(policyset, gateways, ir, built, hosts)
        self._now[gateways] = translated
        return translated.built


def build(policyset: PolicySet, group: Iterable[str]) -> Built:
    """The group's encoded resources, by the one build path, with nothing to reuse or keep."""
    return Builder(keep=False).build(resolve(policyset, group))


def translate(policyset: PolicySet, group: Iterable[str]) -> Resources:
    """The group's resources as messages (`render`, `explain`, the tests)."""
    return decoded(build(policyset, group))


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
