"""Envoy resources encoded once: the form the translators hand to the xDS server.

A resource is serialized deterministically once, packed in an `Any` and
versioned by a hash of those bytes, with its response entries ready to
concatenate, so a push to N streams never re-serializes it.

Each resource also records which other resources it points at (routes to
clusters, clusters to endpoint assignments, listeners to route
configurations). The server uses that to order updates make-before-break
and the cache uses it to refuse snapshots with dangling references.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    ROUTE_TYPE,
    TYPE_PREFIX,
    resource_name,
    type_url_of,
)

_HCM_TYPE = TYPE_PREFIX + hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name
_TCP_PROXY_TYPE = TYPE_PREFIX + tcp_proxy_pb2.TcpProxy.DESCRIPTOR.full_name
_AGGREGATE_CLUSTER = "envoy.clusters.aggregate"

Ref = tuple[str, str]
"""A dependency: (type URL, resource name)."""

SHORT_NAMES: Mapping[str, str] = {
    CLUSTER_TYPE: "cds",
    ENDPOINT_TYPE: "eds",
    LISTENER_TYPE: "lds",
    ROUTE_TYPE: "rds",
}


def short_name(type_url: str) -> str:
    """Readable label for logs, status and metrics (``cds``, ``eds``, ...)."""
    return SHORT_NAMES.get(type_url, type_url.rsplit(".", 1)[-1])


# -- protobuf wire encoding -------------------------------------------------
# The response envelopes are assembled from pre-encoded pieces so that a push
# to N streams never re-serializes a resource.

_LEN = 2


_SMALL = [bytes((value,)) for value in range(0x80)]
"""The one-byte varints: field tags and the lengths of short fields, most of those encoded."""


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
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


_VALUE_TAG = _varint((2 << 3) | _LEN)
"""`Any.value`."""
_RESOURCE_TAG = _VALUE_TAG
"""`DiscoveryResponse.resources` and `DeltaDiscoveryResponse.resources` are field 2 too (and a
discovery `Resource`'s `resource`, the `Any`)."""


@functools.cache
def _any_prefix(type_url: str) -> bytes:
    """An `Any`'s type URL field: its deterministic encoding is this followed by the value
    field (field 2), written directly instead of building and serializing an `Any`."""
    return encode_str_field(1, type_url)


def _packed(type_url: str, parts: Iterable[bytes], size: int) -> bytes:
    """The `Any` of a value `size` bytes long made of `parts`, its value field left out when
    empty (as protobuf leaves an empty bytes field out)."""
    if not size:
        return _any_prefix(type_url)
    return b"".join(itertools.chain((_any_prefix(type_url), _VALUE_TAG, _varint(size)), parts))


def encode_varint_field(number: int, value: int, present: bool = False) -> bytes:
    """A non-negative integer or enum field. Proto3 does not write 0, unless the field has
    presence (`present`: a member of a oneof, say)."""
    return _varint(number << 3) + _varint(value) if value or present else b""


def encode_str_field(number: int, value: str) -> bytes:
    return encode_bytes_field(number, value.encode()) if value else b""


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _skip(data: bytes, at: int, wire_type: int) -> int:
    """Where the value of a field of `wire_type` that starts at `at` ends."""
    if wire_type == 0:
        return _read_varint(data, at)[1]
    if wire_type == 1:
        return at + 8
    if wire_type == _LEN:
        size, at = _read_varint(data, at)
        return at + size
    if wire_type == 5:
        return at + 4
    raise ValueError(f"wire type {wire_type} is not written by proto3 messages")


def split_field(encoded: bytes, number: int) -> tuple[bytes, list[bytes], bytes]:
    """A deterministically encoded message cut around field `number`: the fields before it,
    the payloads of its length-delimited entries, the fields after it. Joined again (each
    payload re-encoded with `encode_bytes_field`), they are the message."""
    at = 0
    start = end = -1
    payloads: list[bytes] = []
    while at < len(encoded):
        tag, value_at = _read_varint(encoded, at)
        ends = _skip(encoded, value_at, tag & 7)
        if tag >> 3 == number:
            if tag & 7 != _LEN:
                raise ValueError(f"field {number} is not length-delimited")
            start = at if start < 0 else start
            end = ends
            payloads.append(encoded[_read_varint(encoded, value_at)[1] : ends])
        elif tag >> 3 > number and start < 0:
            start = end = at
        at = ends
    if start < 0:
        start = end = len(encoded)
    return encoded[:start], payloads, encoded[end:]


def field_entries(encoded: bytes) -> Iterator[bytes]:
    """The encodings of a message's top-level field entries, in order (their concatenation is
    the message)."""
    at = 0
    while at < len(encoded):
        tag, value_at = _read_varint(encoded, at)
        ends = _skip(encoded, value_at, tag & 7)
        yield encoded[at:ends]
        at = ends


def entry_digest(entry: bytes) -> bytes:
    """One field entry's digest, kept by the pieces a resource is joined from."""
    return hashlib.blake2b(entry, digest_size=16).digest()


def version_of_entries(digests: Iterable[bytes]) -> str:
    """The version of a resource versioned by its entries (`BY_ENTRIES`) from their digests,
    in order."""
    return content_hash(b"".join(digests))


BY_ENTRIES = frozenset({ROUTE_TYPE})
"""Types versioned by the digests of their top-level field entries rather than by a hash of
their whole encoding: still a function of their bytes alone, whichever way they were made,
but a route configuration joined from ten thousand virtual hosts that kept their digests
(`build.EncodedHost`) is versioned again after an edit of one of them without hashing the
6 MB they join to."""


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


def _virtual_host_refs(vhost: AnyType) -> Iterator[Ref]:
    for route in vhost.routes:
        if route.HasField("route"):
            yield from _route_action_refs(route.route)


def _route_config_refs(config: AnyType) -> Iterator[Ref]:
    for vhost in config.virtual_hosts:
        yield from _virtual_host_refs(vhost)


def virtual_host_references(vhost: Message) -> frozenset[Ref]:
    """The clusters a virtual host's routes send to: a route configuration's references are
    the union of its virtual hosts'."""
    return frozenset(_virtual_host_refs(vhost))


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
    _refs_by_type: Mapping[str, tuple[str, ...]] | None = field(
        default=None, repr=False, compare=False
    )
    """``refs`` grouped by type once: the ordering rules ask for them on every push. Given
    (by `from_encoded`) when ``refs`` are another resource's very same set."""

    def __post_init__(self) -> None:
        if self._refs_by_type is not None:
            return
        if len(self.refs) <= 1:  # most resources: a cluster names its endpoint set
            by_one = {kind: (name,) for kind, name in self.refs}
            object.__setattr__(self, "_refs_by_type", by_one)
            return
        grouped: dict[str, list[str]] = {}
        for kind, name in sorted(self.refs):
            grouped.setdefault(kind, []).append(name)
        by_type = {kind: tuple(names) for kind, names in grouped.items()}
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
    def from_encoded(
        cls,
        type_url: str,
        name: str,
        value: bytes,
        refs: frozenset[Ref],
        like: Resource | None = None,
        version: str | None = None,
    ) -> Resource:
        """From a message already serialized (deterministically), e.g. assembled from encoded
        parts. `like`: an earlier resource whose references are the very same set, so they
        are not grouped again (a route configuration with 20 000 of them). `version`: for a type
        versioned by its entries (`BY_ENTRIES`), `version_of_entries` of the digests its
        parts kept; else it is worked out here."""
        if not name:
            raise ValueError(f"{short_name(type_url)} resource without a name")
        # Joined, not added: each payload is copied once per form it is kept in.
        packed = _packed(type_url, (value,), len(value))
        if version is None:
            version = (
                version_of_entries(map(entry_digest, field_entries(value)))
                if type_url in BY_ENTRIES
                else content_hash(packed)
            )
        return cls._of_packed(type_url, name, packed, refs, like, version)

    @classmethod
    def from_parts(
        cls,
        type_url: str,
        name: str,
        parts: Sequence[bytes],
        refs: frozenset[Ref],
        version: str,
        like: Resource | None = None,
    ) -> Resource:
        """`from_encoded(type_url, name, b"".join(parts), refs, like, version)` without that
        join: the parts (a route configuration's name and 10 000 virtual hosts, 6 MB) are
        copied straight into the `Any`, one copy fewer of the whole."""
        if not name:
            raise ValueError(f"{short_name(type_url)} resource without a name")
        packed = _packed(type_url, parts, sum(map(len, parts)))
        return cls._of_packed(type_url, name, packed, refs, like, version)

    @classmethod
    def _of_packed(
        cls,
        type_url: str,
        name: str,
        packed: bytes,
        refs: frozenset[Ref],
        like: Resource | None,
        version: str,
    ) -> Resource:
        sotw_entry = b"".join((_RESOURCE_TAG, _varint(len(packed)), packed))
        version_field = encode_str_field(1, version)
        name_field = encode_str_field(3, name)
        size = len(version_field) + len(sotw_entry) + len(name_field)
        delta_entry = b"".join(
            (_RESOURCE_TAG, _varint(size), version_field, sotw_entry, name_field)
        )
        return cls(
            type_url=type_url,
            name=name,
            version=version,
            any_bytes=packed,
            refs=refs,
            sotw_entry=sotw_entry,
            delta_entry=delta_entry,
            _refs_by_type=like._refs_by_type if like is not None and like.refs is refs else None,
        )

    def unpack(self) -> any_pb2.Any:
        packed = any_pb2.Any()
        packed.ParseFromString(self.any_bytes)
        return packed

    def refs_of(self, type_url: str) -> tuple[str, ...]:
        """Names of the ``type_url`` resources this one points at, sorted."""
        assert self._refs_by_type is not None  # set by __post_init__
        return self._refs_by_type.get(type_url, ())
