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
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from google.protobuf.message import Message

from breakwater.translators.envoy.encoded import (
    Ref,
    Resource,
    content_hash,
    encode_bytes_field,
    encode_str_field,
    references,
    short_name,
)
from breakwater.xds_types import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
    resource_name,
    type_url_of,
)

#: Types a proxy may subscribe to without naming resources.
WILDCARD_TYPES: frozenset[str] = frozenset({CLUSTER_TYPE, LISTENER_TYPE})

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
                    *(self.resources[name].sotw_view() for name in sorted(self.resources)),
                    encode_str_field(4, self.type_url),
                ]
            )
        return self._body

    def __len__(self) -> int:
        return len(self.resources)


_EMPTY: Mapping[str, Resource] = MappingProxyType({})


def _same(
    before: Mapping[str, Resource], items: Iterable[Resource]
) -> Mapping[str, Resource] | None:
    """`before` when `items` are exactly its resources (the same objects), else None."""
    if not before:
        return None
    listed = items if isinstance(items, Sequence) else list(items)
    if len(listed) != len(before) or len({item.name for item in listed}) != len(before):
        return None
    for item in listed:
        if before.get(item.name) is not item:
            return None
    return before


_SELECTION_MEMO_LIMIT = 256


class Snapshot:
    """Everything a node group should have, per type URL; immutable once built."""

    __slots__ = ("__weakref__", "_by_type", "_listed", "_memo", "_versions", "version")

    def __init__(
        self, resources: Mapping[str, Iterable[Resource]], previous: Snapshot | None = None
    ) -> None:
        """`previous`: a snapshot whose types that hold the very same resources are taken
        over with their versions (a change of one route leaves 40 000 clusters and endpoint
        sets of a large mesh as they were: comparing identities is all they cost)."""
        by_type: dict[str, Mapping[str, Resource]] = {}
        versions: dict[str, str] = {}
        self._listed = resources
        """What it was made from: a list that is the very one `previous` was made from
        holds the very same resources, without looking at them."""
        for type_url, items in resources.items():
            kept: Mapping[str, Resource] | None = None
            if previous is not None:
                if previous._listed.get(type_url) is items:
                    kept = previous.resources(type_url)
                else:
                    kept = _same(previous.resources(type_url), items)
            if kept is not None and previous is not None:
                by_type[type_url] = kept
                versions[type_url] = previous.type_version(type_url)
                continue
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
        if previous is not None:  # the selections of the types taken over hold as they were
            # (copied at once: the event loop's streams may add to it meanwhile)
            earlier = previous._memo.copy()
            self._memo = {
                key: selection
                for key, selection in earlier.items()
                if by_type.get(key[0]) is previous._by_type.get(key[0])
            }

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
