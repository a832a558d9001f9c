"""Envoy resources as the xDS server serves them: versioned by content, encoded once.

A snapshot is shared by every stream of a node group, so everything a stream
needs on a push (resource versions, the encoded ``Any`` and the encoded
response entries) is computed here once, when the snapshot is built. Streams
then only compare version strings and concatenate bytes.

The module also records, per resource, which other resources it points at
(routes to clusters, clusters to endpoint assignments, listeners to route
configurations). The server uses that to order updates make-before-break and
the cache uses it to refuse snapshots with dangling references.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any as AnyType

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.trace.v3 import opentelemetry_pb2
from envoy.extensions.access_loggers.open_telemetry.v3 import logs_service_pb2
from envoy.extensions.clusters.aggregate.v3 import cluster_pb2 as aggregate_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from breakwater.xds_types import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
    TYPE_PREFIX,
    resource_name,
    type_url_of,
)

#: Types a proxy may subscribe to without naming resources.
WILDCARD_TYPES: frozenset[str] = frozenset({CLUSTER_TYPE, LISTENER_TYPE})

SHORT_NAMES: Mapping[str, str] = MappingProxyType(
    {CLUSTER_TYPE: "cds", ENDPOINT_TYPE: "eds", LISTENER_TYPE: "lds", ROUTE_TYPE: "rds"}
)

_HCM_TYPE = TYPE_PREFIX + hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name
_TCP_PROXY_TYPE = TYPE_PREFIX + tcp_proxy_pb2.TcpProxy.DESCRIPTOR.full_name
_AGGREGATE_CLUSTER = "envoy.clusters.aggregate"

Ref = tuple[str, str]
"""A dependency: (type URL, resource name)."""


def short_name(type_url: str) -> str:
    """Readable label for logs, status and metrics (``cds``, ``eds``, ...)."""
    return SHORT_NAMES.get(type_url, type_url.rsplit(".", 1)[-1])


_RANK: Mapping[str, int] = MappingProxyType({t: i for i, t in enumerate(PUSH_ORDER)})


@functools.lru_cache(maxsize=256)
def _in_push_order(type_urls: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(type_urls, key=lambda t: (_RANK.get(t, len(_RANK)), t)))


def order_types(type_urls: Iterable[str]) -> list[str]:
    """Sort type URLs by push order; types outside CDS/EDS/LDS/RDS go last.

    Every stream asks this on every wake-up, nearly always for the same four
    types, so the order of each set of types is worked out once.
    """
    return list(_in_push_order(frozenset(type_urls)))


# -- protobuf wire encoding -------------------------------------------------
# The response envelopes are assembled from pre-encoded pieces so that a push
# to N streams never re-serializes a resource.

_LEN = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def encode_bytes_field(number: int, payload: bytes) -> bytes:
    """One length-delimited field (strings, bytes, sub-messages)."""
    return _varint((number << 3) | _LEN) + _varint(len(payload)) + payload


def encode_str_field(number: int, value: str) -> bytes:
    return encode_bytes_field(number, value.encode()) if value else b""


def content_hash(*chunks: bytes) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


# -- dependencies -----------------------------------------------------------


def _route_action_refs(action: AnyType) -> Iterator[Ref]:
    if action.cluster:
        yield CLUSTER_TYPE, action.cluster
    for weighted in action.weighted_clusters.clusters:
        if weighted.name:
            yield CLUSTER_TYPE, weighted.name
    for mirror in action.request_mirror_policies:
        if mirror.cluster:
            yield CLUSTER_TYPE, mirror.cluster


def _route_config_refs(config: AnyType) -> Iterator[Ref]:
    for vhost in config.virtual_hosts:
        for route in vhost.routes:
            if route.HasField("route"):
                yield from _route_action_refs(route.route)


def _cluster_refs(cluster: AnyType) -> Iterator[Ref]:
    kind = cluster.WhichOneof("cluster_discovery_type")
    if kind == "type" and cluster.type == cluster_pb2.Cluster.EDS:
        yield ENDPOINT_TYPE, cluster.eds_cluster_config.service_name or cluster.name
    elif kind == "cluster_type" and cluster.cluster_type.name == _AGGREGATE_CLUSTER:
        config = aggregate_pb2.ClusterConfig()
        if cluster.cluster_type.typed_config.Unpack(config):
            for name in config.clusters:
                yield CLUSTER_TYPE, name


def _exporter_refs(hcm: AnyType) -> Iterator[Ref]:
    """The clusters a connection manager sends spans and OTLP access logs to.

    Envoy takes a listener whose exporter names a cluster it does not have,
    and what it exports meanwhile is lost; so the listener waits for the
    cluster as a route does, and the cluster stays while a listener names it.
    """
    if hcm.HasField("tracing") and hcm.tracing.HasField("provider"):
        tracer = opentelemetry_pb2.OpenTelemetryConfig()
        if hcm.tracing.provider.typed_config.Unpack(tracer) and tracer.grpc_service.HasField(
            "envoy_grpc"
        ):
            yield CLUSTER_TYPE, tracer.grpc_service.envoy_grpc.cluster_name
    for access_log in hcm.access_log:
        otlp = logs_service_pb2.OpenTelemetryAccessLogConfig()
        if access_log.typed_config.Unpack(otlp):
            service = otlp.common_config.grpc_service
            if service.HasField("envoy_grpc"):
                yield CLUSTER_TYPE, service.envoy_grpc.cluster_name


def _listener_refs(listener: AnyType) -> Iterator[Ref]:
    chains = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    for chain in chains:
        for network_filter in chain.filters:
            typed = network_filter.typed_config
            if typed.type_url == _HCM_TYPE:
                hcm = hcm_pb2.HttpConnectionManager()
                typed.Unpack(hcm)
                if hcm.HasField("rds"):
                    yield ROUTE_TYPE, hcm.rds.route_config_name
                elif hcm.HasField("route_config"):
                    yield from _route_config_refs(hcm.route_config)
                yield from _exporter_refs(hcm)
            elif typed.type_url == _TCP_PROXY_TYPE:
                proxy = tcp_proxy_pb2.TcpProxy()
                typed.Unpack(proxy)
                if proxy.cluster:
                    yield CLUSTER_TYPE, proxy.cluster
                for weighted in proxy.weighted_clusters.clusters:
                    yield CLUSTER_TYPE, weighted.name


def references(message: Message) -> frozenset[Ref]:
    """What a resource needs to exist on the proxy before it can work.

    Unparseable nested configs yield no references: such a resource is
    rejected by Envoy anyway, and the server must still be able to send it.
    """
    parsers = {
        CLUSTER_TYPE: _cluster_refs,
        LISTENER_TYPE: _listener_refs,
        ROUTE_TYPE: _route_config_refs,
    }
    parser = parsers.get(type_url_of(message))
    if parser is None:
        return frozenset()
    try:
        return frozenset(parser(message))
    except DecodeError:
        return frozenset()


# -- resources and snapshots ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resource:
    """One named resource, serialized once.

    ``version`` is a hash of the encoded ``Any``; the encoding is deterministic,
    so the same message always gets the same version.
    """

    type_url: str
    name: str
    version: str
    any_bytes: bytes
    refs: frozenset[Ref] = frozenset()
    sotw_entry: bytes = field(default=b"", repr=False)
    """``DiscoveryResponse.resources`` entry, ready to concatenate."""
    delta_entry: bytes = field(default=b"", repr=False)
    """``DeltaDiscoveryResponse.resources`` entry (a discovery ``Resource``)."""
    _refs_by_type: Mapping[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """``refs`` grouped by type once: the ordering rules ask for them on every push."""

    def __post_init__(self) -> None:
        grouped: dict[str, list[str]] = {}
        for kind, name in sorted(self.refs):
            grouped.setdefault(kind, []).append(name)
        by_type = MappingProxyType({kind: tuple(names) for kind, names in grouped.items()})
        object.__setattr__(self, "_refs_by_type", by_type)

    @classmethod
    def from_message(cls, message: Message) -> Resource:
        return cls.from_encoded(
            type_url_of(message),
            resource_name(message),
            message.SerializeToString(deterministic=True),
            references(message),
        )

    @classmethod
    def from_encoded(cls, type_url: str, name: str, value: bytes, refs: frozenset[Ref]) -> Resource:
        """From a message already serialized (deterministically), e.g. assembled from encoded parts."""
        if not name:
            raise ValueError(f"{short_name(type_url)} resource without a name")
        packed = any_pb2.Any(type_url=type_url, value=value).SerializeToString(deterministic=True)
        version = content_hash(packed)
        discovery_resource = (
            encode_str_field(1, version) + encode_bytes_field(2, packed) + encode_str_field(3, name)
        )
        return cls(
            type_url=type_url,
            name=name,
            version=version,
            any_bytes=packed,
            refs=refs,
            sotw_entry=encode_bytes_field(2, packed),
            delta_entry=encode_bytes_field(2, discovery_resource),
        )

    def unpack(self) -> any_pb2.Any:
        packed = any_pb2.Any()
        packed.ParseFromString(self.any_bytes)
        return packed

    def refs_of(self, type_url: str) -> tuple[str, ...]:
        """Names of the ``type_url`` resources this one points at, sorted."""
        return self._refs_by_type.get(type_url, ())


def version_of(resources: Mapping[str, Resource]) -> str:
    """Version of a set of resources: a hash over sorted (name, version) pairs."""
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(resources):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(resources[name].version.encode())
        digest.update(b"\n")
    return digest.hexdigest()


class Selection:
    """A set of resources of one type as sent to a proxy, with its version.

    Streams of one group that subscribe to the same names share one
    selection, so the encoded response body is built once for all of them.
    """

    __slots__ = ("_body", "resources", "type_url", "version")

    def __init__(
        self, type_url: str, resources: Mapping[str, Resource], version: str | None = None
    ) -> None:
        self.type_url = type_url
        self.resources = resources
        self.version = version_of(resources) if version is None else version
        self._body: bytes | None = None

    def sotw_body(self) -> bytes:
        """``DiscoveryResponse`` without its nonce (field 5 is appended per stream)."""
        if self._body is None:
            self._body = b"".join(
                [
                    encode_str_field(1, self.version),
                    *(self.resources[name].sotw_entry for name in sorted(self.resources)),
                    encode_str_field(4, self.type_url),
                ]
            )
        return self._body

    def __len__(self) -> int:
        return len(self.resources)


_EMPTY: Mapping[str, Resource] = MappingProxyType({})
_SELECTION_MEMO_LIMIT = 256


class Snapshot:
    """Everything a node group should have, per type URL; immutable once built."""

    __slots__ = ("_by_type", "_memo", "_versions", "version")

    def __init__(self, resources: Mapping[str, Iterable[Resource]]) -> None:
        by_type: dict[str, Mapping[str, Resource]] = {}
        versions: dict[str, str] = {}
        for type_url, items in resources.items():
            named: dict[str, Resource] = {}
            for item in items:
                if item.type_url != type_url:
                    raise ValueError(f"{item.name!r} is a {item.type_url}, listed under {type_url}")
                if item.name in named:
                    raise ValueError(f"duplicate {short_name(type_url)} resource {item.name!r}")
                named[item.name] = item
            by_type[type_url] = MappingProxyType(named)
            versions[type_url] = version_of(named)
        self._by_type = by_type
        self._versions = versions
        self.version = content_hash(*(f"{t}={versions[t]};".encode() for t in sorted(versions)))
        self._memo: dict[tuple[str, frozenset[str] | None], Selection] = {}

    @classmethod
    def from_messages(cls, resources: Mapping[str, Sequence[Message]]) -> Snapshot:
        """Build from protobuf messages keyed by type URL (use the ``*_TYPE`` constants)."""
        return cls(
            {
                type_url: [Resource.from_message(message) for message in messages]
                for type_url, messages in resources.items()
            }
        )

    @classmethod
    def empty(cls) -> Snapshot:
        return cls({t: [] for t in PUSH_ORDER})

    @property
    def type_urls(self) -> list[str]:
        return order_types(self._by_type)

    def resources(self, type_url: str) -> Mapping[str, Resource]:
        return self._by_type.get(type_url, _EMPTY)

    def type_version(self, type_url: str) -> str:
        return self._versions.get(type_url) or version_of(_EMPTY)

    def select(self, type_url: str, names: frozenset[str] | None) -> Selection:
        """The resources of a type a proxy asked for (``None`` = all of them), memoized."""
        key = (type_url, names)
        found = self._memo.get(key)
        if found is not None:
            return found
        available = self.resources(type_url)
        if names is None:
            selection = Selection(type_url, available, self.type_version(type_url))
        else:
            chosen = {name: available[name] for name in names if name in available}
            selection = Selection(type_url, MappingProxyType(chosen))
        if len(self._memo) >= _SELECTION_MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = selection
        return selection

    def problems(self) -> list[str]:
        """Dangling references, which would make a proxy serve 503s or stall warming."""
        found: list[str] = []
        for type_url in self.type_urls:
            for name, item in sorted(self.resources(type_url).items()):
                for ref_type, ref_name in sorted(item.refs):
                    if ref_name not in self.resources(ref_type):
                        found.append(
                            f"{short_name(type_url)} {name!r} references "
                            f"{short_name(ref_type)} {ref_name!r}, which is not in the snapshot"
                        )
        return found

    def __repr__(self) -> str:
        counts = ", ".join(f"{short_name(t)}={len(self.resources(t))}" for t in self.type_urls)
        return f"Snapshot({self.version}: {counts})"


__all__ = [
    "CLUSTER_TYPE",
    "ENDPOINT_TYPE",
    "LISTENER_TYPE",
    "PUSH_ORDER",
    "ROUTE_TYPE",
    "WILDCARD_TYPES",
    "Ref",
    "Resource",
    "Selection",
    "Snapshot",
    "content_hash",
    "encode_bytes_field",
    "encode_str_field",
    "order_types",
    "references",
    "resource_name",
    "short_name",
    "type_url_of",
    "version_of",
]
