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

NO_REFS: frozenset[Ref] = frozenset()
"""The references of a resource that names nothing (an endpoint set): one set for all of them
(an empty frozenset is an object of its own each time it is made, 216 bytes)."""

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


def virtual_host_references(vhost: Message) -> tuple[Ref, ...]:
    """The clusters a virtual host's routes send to, each once and sorted (equal tuples are
    equal sets): a route configuration's references are the union of its virtual hosts'.
    A tuple of two (a 90/10 split) is 56 bytes, a frozenset 216; 10 000 hosts keep theirs."""
    return tuple(sorted(set(_virtual_host_refs(vhost))))


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
        return NO_REFS
    try:
        return frozenset(parser(message)) or NO_REFS
    except DecodeError:
        return NO_REFS


# -- resources and snapshots ------------------------------------------------


def _varint_size(value: int) -> int:
    return (max(value.bit_length(), 1) + 6) // 7


def _str_field_size(value: str) -> int:
    """The length of `encode_str_field(n, value)` for a field number below 16."""
    size = len(value.encode()) if not value.isascii() else len(value)
    return 1 + _varint_size(size) + size if size else 0


class Resource:
    """One named resource, serialized once.

    ``version`` is a hash of the encoded ``Any`` (or of its entries, `BY_ENTRIES`); the
    encoding is deterministic, so the same message always gets the same version.

    One encoded form is kept: the ``DeltaDiscoveryResponse.resources`` entry (a discovery
    ``Resource``: its version, the ``DiscoveryResponse.resources`` entry, its name). The
    others lie in it whole (``sotw_entry`` from `_start` to `_tail` bytes before its end, the
    ``Any`` at the end of that), so they are slices of it: `sotw_view` for a response body
    (no copy), ``sotw_entry`` and ``any_bytes`` copied when asked. Keeping the three forms
    held a resource three times over (at 10 000 services a 6 MB route configuration, 30 MiB
    in all), and a delta entry built on first demand would be built anyway by the snapshot
    store, which writes every form.

    References: one shared empty set for resources that name nothing, a resource naming one
    other (a cluster its endpoint set) keeps that pair and makes the set when ``refs`` is
    asked (a set of one is 216 bytes; 20 000 clusters), others keep theirs grouped by type
    (`refs_of`, asked on every push).
    """

    __slots__ = (
        "_refs",
        "_refs_by_type",
        "_start",
        "_tail",
        "delta_entry",
        "name",
        "type_url",
        "version",
    )

    type_url: str
    name: str
    version: str
    delta_entry: bytes
    """``DeltaDiscoveryResponse.resources`` entry (a discovery ``Resource``), ready to
    concatenate."""
    _refs: frozenset[Ref] | Ref
    _refs_by_type: Mapping[str, tuple[str, ...]] | None
    _start: int
    _tail: int

    def __init__(
        self,
        type_url: str,
        name: str,
        version: str,
        any_bytes: bytes = b"",
        refs: frozenset[Ref] = NO_REFS,
        sotw_entry: bytes = b"",
        delta_entry: bytes = b"",
        _refs_by_type: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        """From any of its encoded forms: the delta entry when given (it holds the others),
        else the ``DiscoveryResponse`` entry, else the ``Any``. `_refs_by_type`: ``refs``
        grouped by type, when another resource's very same set was grouped already."""
        if not delta_entry:
            if not sotw_entry:
                sotw_entry = b"".join((_RESOURCE_TAG, _varint(len(any_bytes)), any_bytes))
            delta_entry = _delta_entry(version, sotw_entry, name)
        setter = object.__setattr__
        setter(self, "type_url", type_url)
        setter(self, "name", name)
        setter(self, "version", version)
        setter(self, "delta_entry", delta_entry)
        setter(self, "_start", _read_varint(delta_entry, 1)[1] + _str_field_size(version))
        setter(self, "_tail", _str_field_size(name))
        if len(refs) == 1:
            (only,) = refs
            setter(self, "_refs", only)
            setter(self, "_refs_by_type", None)
        elif not refs:
            setter(self, "_refs", NO_REFS)
            setter(self, "_refs_by_type", None)
        else:
            setter(self, "_refs", refs)
            setter(self, "_refs_by_type", _refs_by_type or _grouped(refs))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Resource is immutable; {name!r} cannot be set")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Resource is immutable; {name!r} cannot be deleted")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return (self.type_url, self.name, self.version, self._refs, self.delta_entry) == (
            other.type_url,
            other.name,
            other.version,
            other._refs,
            other.delta_entry,
        )

    def __hash__(self) -> int:
        return hash((self.type_url, self.name, self.version))

    def __reduce__(self) -> tuple[type[Resource], tuple[object, ...]]:
        """Pickled as its one form (`__setattr__` refuses what pickle would do by default)."""
        args = (self.type_url, self.name, self.version, b"", self.refs, b"", self.delta_entry)
        return Resource, (*args, self._refs_by_type)

    def __repr__(self) -> str:
        return (
            f"Resource(type_url={self.type_url!r}, name={self.name!r}, "
            f"version={self.version!r}, refs={self.refs!r})"
        )

    @property
    def refs(self) -> frozenset[Ref]:
        """What this resource points at (a set of one is made when asked)."""
        held = self._refs
        return frozenset((held,)) if isinstance(held, tuple) else held

    def sotw_view(self) -> memoryview:
        """``DiscoveryResponse.resources`` entry, ready to concatenate, without a copy."""
        return memoryview(self.delta_entry)[self._start : len(self.delta_entry) - self._tail]

    @property
    def sotw_entry(self) -> bytes:
        """``DiscoveryResponse.resources`` entry (a copy: `sotw_view` for a response body)."""
        return self.delta_entry[self._start : len(self.delta_entry) - self._tail]

    @property
    def any_bytes(self) -> bytes:
        """The encoded ``Any`` (a copy)."""
        at = _read_varint(self.delta_entry, self._start + 1)[1]
        return self.delta_entry[at : len(self.delta_entry) - self._tail]

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
        if version is None:
            if type_url in BY_ENTRIES:
                version = version_of_entries(map(entry_digest, field_entries(value)))
            else:  # the hash of the `Any`, from its pieces
                value_head = (_VALUE_TAG, _varint(len(value))) if value else ()
                version = content_hash(_any_prefix(type_url), *value_head, value)
        return cls.from_parts(type_url, name, (value,), refs, version, like)

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
        copied once, straight into the one form kept."""
        if not name:
            raise ValueError(f"{short_name(type_url)} resource without a name")
        size = sum(map(len, parts))
        prefix = _any_prefix(type_url)
        value_head = (_VALUE_TAG, _varint(size)) if size else ()
        any_size = len(prefix) + sum(map(len, value_head)) + size
        version_field = encode_str_field(1, version)
        name_field = encode_str_field(3, name)
        sotw_size = 1 + _varint_size(any_size) + any_size
        delta_entry = b"".join(
            itertools.chain(
                (
                    _RESOURCE_TAG,
                    _varint(len(version_field) + sotw_size + len(name_field)),
                    version_field,
                    _RESOURCE_TAG,
                    _varint(any_size),
                    prefix,
                ),
                value_head,
                parts,
                (name_field,),
            )
        )
        by_type = like._refs_by_type if like is not None and like.refs is refs else None
        return cls(
            type_url, name, version, refs=refs, delta_entry=delta_entry, _refs_by_type=by_type
        )

    def unpack(self) -> any_pb2.Any:
        packed = any_pb2.Any()
        packed.ParseFromString(self.any_bytes)
        return packed

    def refs_of(self, type_url: str) -> tuple[str, ...]:
        """Names of the ``type_url`` resources this one points at, sorted."""
        held = self._refs
        if isinstance(held, tuple):
            return (held[1],) if held[0] == type_url else ()
        by_type = self._refs_by_type
        return () if by_type is None else by_type.get(type_url, ())


def _delta_entry(version: str, sotw_entry: bytes, name: str) -> bytes:
    """A ``DeltaDiscoveryResponse.resources`` entry around a ``DiscoveryResponse`` one."""
    version_field = encode_str_field(1, version)
    name_field = encode_str_field(3, name)
    size = len(version_field) + len(sotw_entry) + len(name_field)
    return b"".join((_RESOURCE_TAG, _varint(size), version_field, sotw_entry, name_field))


def _grouped(refs: frozenset[Ref]) -> Mapping[str, tuple[str, ...]]:
    """``refs`` grouped by type, each sorted: the ordering rules ask for them on every push."""
    grouped: dict[str, list[str]] = {}
    for kind, name in sorted(refs):
        grouped.setdefault(kind, []).append(name)
    return {kind: tuple(names) for kind, names in grouped.items()}
