"""The ADS server: State of the World and Delta, for every type a snapshot holds.

Each gRPC stream keeps, per type URL, what the proxy subscribed to, what it
was sent, what it acknowledged and what it rejected. Two rules shape what is
sent:

* A version the proxy rejected is not sent again; only a different version
  is. The proxy keeps running on its last accepted config meanwhile, and the
  rejection stays visible in the registry until then.
* Make before break. Types go out in the order CDS, EDS, LDS, RDS. A route
  or listener update that points at a cluster waits until the proxy has
  acknowledged that cluster (and its endpoints, when we serve them), for at
  most ``ordering_timeout``; a cluster leaves the proxy only once no route or
  listener it acknowledged still points at it. Both rules work from what was
  acknowledged on the current stream: a proxy that reconnects gets the
  current state, without the old clusters its routes might still use.

Streams are woken by the cache on a snapshot change or by their own
requests, and then compare versions: the resources, their versions and
their encoded bytes are shared by all streams of a group.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import grpc
from envoy.service.discovery.v3 import discovery_pb2

from .cache import Node, SnapshotCache
from .resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    WILDCARD_TYPES,
    Resource,
    Selection,
    Snapshot,
    encode_bytes_field,
    encode_str_field,
    order_types,
    short_name,
)

log = logging.getLogger(__name__)

SERVICE_NAME = "envoy.service.discovery.v3.AggregatedDiscoveryService"
SOTW_METHOD = "StreamAggregatedResources"
DELTA_METHOD = "DeltaAggregatedResources"

Mode = Literal["sotw", "delta"]
SyncState = Literal["waiting", "synced", "stale", "nacked"]
Request: TypeAlias = Any  # DiscoveryRequest or DeltaDiscoveryRequest (untyped generated code)
Context: TypeAlias = "grpc.aio.ServicerContext[Any, bytes]"

_EMPTY: Mapping[str, Resource] = MappingProxyType({})
_INFLIGHT_LIMIT = 32
_NAMES_LIMIT = 4096
_INBOX_LIMIT = 64
"""Requests read ahead of the stream's own processing; past it the stream stops reading, and
HTTP/2 flow control holds back a client that writes without reading the responses."""
_TYPES_LIMIT = 64
"""Type URLs one stream may ask for (Envoy uses about ten); every request re-checks them all."""


class _Refused(Exception):
    """The client asked for more than a stream may hold; the stream ends with this message."""


# -- status and hooks -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeStatus:
    """Where one resource type stands on one stream.

    ``state`` is ``synced`` when the proxy acknowledged exactly what the
    current snapshot asks for, ``nacked`` when it rejected the latest
    response, ``stale`` while an update is on its way or held back for
    ordering, and ``waiting`` before anything was sent.
    """

    type_url: str
    state: SyncState
    wildcard: bool
    subscribed: tuple[str, ...]
    resources: int
    target_version: str
    sent_version: str
    sent_nonce: str
    sent_at: float | None
    sends: int
    acked_version: str
    acked_at: float | None
    nack_version: str
    nack_message: str
    nack_at: float | None
    nacks: int

    @property
    def short_name(self) -> str:
        return short_name(self.type_url)


@dataclass(frozen=True, slots=True)
class StreamStatus:
    stream_id: int
    mode: Mode
    node_id: str
    node_cluster: str
    group: Hashable
    peer: str
    connected_at: float
    types: Mapping[str, TypeStatus]

    @property
    def synced(self) -> bool:
        return bool(self.types) and all(t.state == "synced" for t in self.types.values())


class XdsObserver:
    """Hooks for metrics and status; override what you need.

    Hooks run on the event loop inside the stream that triggered them: keep
    them quick and non-blocking. Exceptions are logged and otherwise ignored.
    """

    def on_connect(self, stream: StreamStatus) -> None:
        """A stream identified its node (its first request arrived)."""

    def on_disconnect(self, stream: StreamStatus) -> None:
        """A stream ended, for whatever reason."""

    def on_send(self, node: Node, type_url: str, version: str, resources: int) -> None:
        """A response went out; ``resources`` counts updated plus removed entries."""

    def on_ack(self, node: Node, type_url: str, version: str) -> None:
        """The proxy accepted ``version``."""

    def on_nack(self, node: Node, type_url: str, version: str, message: str) -> None:
        """The proxy rejected ``version``; ``message`` is its ``error_detail``."""


class StreamRegistry:
    """The connected proxies, for the admin API, status and metrics."""

    def __init__(self, observers: Iterable[XdsObserver] = ()) -> None:
        self._streams: dict[int, _Stream] = {}
        self._observers: list[XdsObserver] = list(observers)
        self._names: dict[frozenset[str], frozenset[str]] = {}

    def intern_names(self, names: frozenset[str]) -> frozenset[str]:
        """One shared set per distinct subscription instead of a copy per stream.

        The proxies of a group subscribe to the same EDS and RDS names; with
        thousands of streams those copies are a large part of an idle
        stream's memory, and they grow with the number of clusters.
        """
        found = self._names.get(names)
        if found is None:
            if len(self._names) >= _NAMES_LIMIT:
                self._names.clear()
            found = self._names[names] = names
        return found

    def add_observer(self, observer: XdsObserver) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: XdsObserver) -> None:
        self._observers.remove(observer)

    def streams(self) -> list[StreamStatus]:
        """Identified streams, oldest first."""
        return [s.status() for s in self._streams.values() if s.node is not None]

    def by_node(self, node_id: str) -> list[StreamStatus]:
        return [s for s in self.streams() if s.node_id == node_id]

    def __len__(self) -> int:
        return len(self._streams)

    def convergence(
        self, groups: Iterable[Hashable], current: Callable[[Hashable], str | None]
    ) -> tuple[set[Hashable], set[Hashable]]:
        """Of ``groups``: those with a connected proxy, and those with one not yet synced.

        Synced means: the proxy looked at the group's current snapshot
        (``current(group)`` gives its version) and ACKed everything due. Cheap
        enough to run on every burst of ACKs: no status objects, and it stops
        once every group is known to be unsynced.
        """
        wanted = {group: current(group) for group in groups}
        present: set[Hashable] = set()
        unsynced: set[Hashable] = set()
        for stream in self._streams.values():
            group = stream.group
            if stream.node is None or group not in wanted:
                continue
            present.add(group)
            if group in unsynced:
                continue
            if stream.evaluated != wanted[group] or not all(
                t.state() == "synced" for t in stream.types.values()
            ):
                unsynced.add(group)
                if len(unsynced) == len(wanted):
                    break
        return present, unsynced

    def _add(self, stream: _Stream) -> None:
        self._streams[stream.stream_id] = stream

    def _remove(self, stream: _Stream) -> None:
        self._streams.pop(stream.stream_id, None)

    def _emit(self, hook: str, *args: Any) -> None:
        for observer in self._observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:
                log.exception("xDS observer %r failed in %s", observer, hook)


# -- per-type state ---------------------------------------------------------


class _TypeState:
    __slots__ = (
        "absent",
        "acked",
        "acked_at",
        "acked_version",
        "foreign",
        "held_since",
        "inflight",
        "nack_at",
        "nack_message",
        "nack_version",
        "nacked_nonce",
        "nacks",
        "names",
        "reply_due",
        "sends",
        "sent",
        "sent_at",
        "sent_nonce",
        "sent_version",
        "target_version",
        "type_url",
        "wildcard",
    )

    def __init__(self, type_url: str) -> None:
        self.type_url = type_url
        self.wildcard = False
        self.names: frozenset[str] = frozenset()
        # What the proxy was sent and is assumed to hold (shared, never copied
        # for State of the World; a private dict for Delta).
        self.sent: Mapping[str, Resource] = _EMPTY
        # What the proxy acknowledged: the basis for keeping clusters alive.
        self.acked: Mapping[str, Resource] = _EMPTY
        self.target_version = ""
        self.sent_version = ""
        self.sent_nonce = ""
        self.sent_at: float | None = None
        self.sends = 0
        self.acked_version = ""
        self.acked_at: float | None = None
        self.nack_version = ""
        self.nack_message = ""
        self.nack_at: float | None = None
        self.nacks = 0
        self.nacked_nonce = ""
        self.reply_due = True
        self.held_since: float | None = None
        # Delta only: versions the proxy reported that no snapshot resource
        # matched, responses awaiting ACK, names reported as not existing.
        self.foreign: dict[str, str] = {}
        self.inflight: dict[str, _Inflight] = {}
        self.absent: set[str] = set()

    def subscribed(self, name: str) -> bool:
        return self.wildcard or name in self.names

    def state(self) -> SyncState:
        if self.nacked_nonce and self.nacked_nonce == self.sent_nonce:
            return "nacked"
        if self.sends == 0:
            return "waiting"
        if self.acked_version == self.sent_version == self.target_version:
            return "synced"
        return "stale"

    def status(self) -> TypeStatus:
        return TypeStatus(
            type_url=self.type_url,
            state=self.state(),
            wildcard=self.wildcard,
            subscribed=tuple(sorted(self.names)),
            resources=len(self.sent),
            target_version=self.target_version,
            sent_version=self.sent_version,
            sent_nonce=self.sent_nonce,
            sent_at=self.sent_at,
            sends=self.sends,
            acked_version=self.acked_version,
            acked_at=self.acked_at,
            nack_version=self.nack_version,
            nack_message=self.nack_message,
            nack_at=self.nack_at,
            nacks=self.nacks,
        )


@dataclass(frozen=True, slots=True)
class _Inflight:
    version: str
    updated: tuple[Resource, ...]
    removed: tuple[str, ...]


def _is_nack(request: Request) -> bool:
    return bool(request.HasField("error_detail"))


def _split_wildcard(names: Iterable[str]) -> tuple[bool, frozenset[str]]:
    named = frozenset(names)
    return "*" in named, named - {"*"}


# -- streams ----------------------------------------------------------------


class _Stream:
    """What one ADS stream knows; subclasses speak SotW or Delta."""

    mode: Mode

    def __init__(
        self, stream_id: int, peer: str, registry: StreamRegistry, ordering_timeout: float
    ) -> None:
        self.stream_id = stream_id
        self.ordering_timeout = ordering_timeout
        self.peer = peer
        self.registry = registry
        self.connected_at = time.time()
        self.node: Node | None = None
        self.group: Hashable = None
        self.types: dict[str, _TypeState] = {}
        self.inbox: deque[Request] = deque()
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.closed = False
        self.evaluated = ""
        """Version of the last snapshot this stream looked at."""
        self.error: BaseException | None = None
        self._nonces = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None

    # requests -----------------------------------------------------------

    def handle(self, request: Request) -> None:
        raise NotImplementedError

    def _new_type(self, type_url: str) -> _TypeState:
        if len(self.types) >= _TYPES_LIMIT:
            raise _Refused(
                f"a stream may ask for at most {_TYPES_LIMIT} resource types; "
                f"{type_url[:100]!r} would be one more"
            )
        state = self.types[type_url] = _TypeState(type_url)
        return state

    def _record_ack(self, state: _TypeState, version: str, acked: Mapping[str, Resource]) -> None:
        state.acked = acked
        state.acked_version = version
        state.acked_at = time.time()
        self.registry._emit("on_ack", self.node, state.type_url, version)

    def _record_nack(self, state: _TypeState, version: str, nonce: str, message: str) -> None:
        state.nack_version = version
        state.nack_message = message
        state.nack_at = time.time()
        state.nacks += 1
        state.nacked_nonce = nonce
        log.warning(
            "node %s rejected %s version %s: %s",
            self.node_id,
            short_name(state.type_url),
            version,
            message,
        )
        self.registry._emit("on_nack", self.node, state.type_url, version, message)

    # responses ----------------------------------------------------------

    def evaluate(self, snapshot: Snapshot) -> list[bytes]:
        """Responses due now, in make-before-break order."""
        self.evaluated = snapshot.version
        kept = self._kept_clusters(snapshot)
        out: list[bytes] = []
        for type_url in order_types(self.types):
            state = self.types[type_url]
            desired = self._desired(state, snapshot, kept)
            response = self._respond(state, desired, snapshot)
            if response is not None:
                out.append(response)
        return out

    def _respond(self, state: _TypeState, desired: Selection, snapshot: Snapshot) -> bytes | None:
        raise NotImplementedError

    def _next_nonce(self) -> str:
        return str(next(self._nonces))

    def _record_send(self, state: _TypeState, version: str, nonce: str, count: int) -> None:
        state.sent_version = version
        state.sent_nonce = nonce
        state.sent_at = time.time()
        state.sends += 1
        state.reply_due = False
        log.debug(
            "node %s: %s version %s, %d resources, nonce %s",
            self.node_id,
            short_name(state.type_url),
            version,
            count,
            nonce,
        )
        self.registry._emit("on_send", self.node, state.type_url, version, count)

    def _desired(self, state: _TypeState, snapshot: Snapshot, kept: frozenset[str]) -> Selection:
        """What the proxy should hold for a type, after the ordering rules."""
        selection = snapshot.select(state.type_url, None if state.wildcard else state.names)
        state.target_version = selection.version
        changes: dict[str, Resource | None] = {}
        if state.type_url == CLUSTER_TYPE:
            for name in kept:
                previous = state.sent.get(name)
                if previous is not None and state.subscribed(name):
                    changes[name] = previous
        elif state.type_url == ENDPOINT_TYPE and kept:
            clusters = self.types[CLUSTER_TYPE].sent
            for cluster_name in kept:
                cluster = clusters.get(cluster_name)
                for name in cluster.refs_of(ENDPOINT_TYPE) if cluster else ():
                    previous = state.sent.get(name)
                    if name not in selection.resources and previous and state.subscribed(name):
                        changes[name] = previous
        elif state.type_url in (LISTENER_TYPE, ROUTE_TYPE):
            changes = self._held_back(state, selection, snapshot)
        if not changes:
            return selection
        merged = dict(selection.resources)
        for name, replacement in changes.items():
            if replacement is None:
                del merged[name]
            else:
                merged[name] = replacement
        return Selection(state.type_url, MappingProxyType(merged))

    def _held_back(
        self, state: _TypeState, selection: Selection, snapshot: Snapshot
    ) -> dict[str, Resource | None]:
        """Listener and route updates that must wait for their clusters.

        Each waits with its previous version (or not at all if new). The
        wait is bounded: a cluster the proxy rejected would otherwise block
        every later change to the routes that mention it.
        """
        if selection.version == state.sent_version:
            state.held_since = None
            return {}
        held: dict[str, Resource | None] = {}
        for name, resource in selection.resources.items():
            previous = state.sent.get(name)
            if previous is not None and previous.version == resource.version:
                continue
            if not self._ready(resource, snapshot, set()):
                held[name] = previous
        if not held:
            state.held_since = None
            return {}
        now = time.monotonic()
        if state.held_since is None:
            state.held_since = now
        remaining = state.held_since + self.ordering_timeout - now
        if remaining > 0:
            self._wake_in(remaining)
        else:
            log.warning(
                "node %s: sending %s %s although clusters they use are not acknowledged after %.1fs",
                self.node_id,
                short_name(state.type_url),
                ", ".join(sorted(held)),
                self.ordering_timeout,
            )
            return {}
        return held

    def _wake_in(self, delay: float) -> None:
        if self._timer is None or self._timer.when() > asyncio.get_running_loop().time() + delay:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.wake.set()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _kept_clusters(self, snapshot: Snapshot) -> frozenset[str]:
        """Clusters gone from the snapshot that acknowledged routes still use."""
        cds = self.types.get(CLUSTER_TYPE)
        if cds is None:
            return frozenset()
        available = snapshot.resources(CLUSTER_TYPE)
        pending: list[str] = []
        for type_url in (LISTENER_TYPE, ROUTE_TYPE):
            state = self.types.get(type_url)
            if state is None:
                continue
            for name, resource in state.acked.items():
                if state.subscribed(name):
                    pending.extend(resource.refs_of(CLUSTER_TYPE))
        kept: set[str] = set()
        while pending:
            name = pending.pop()
            if name in available or name in kept:
                continue
            previous = cds.sent.get(name)
            if previous is None:
                continue
            kept.add(name)
            pending.extend(previous.refs_of(CLUSTER_TYPE))  # members of an aggregate
        return frozenset(kept)

    def _ready(self, resource: Resource, snapshot: Snapshot, seen: set[str]) -> bool:
        """Whether the proxy already holds every cluster the resource points at."""
        cds = self.types.get(CLUSTER_TYPE)
        if cds is None:
            return True
        eds = self.types.get(ENDPOINT_TYPE)
        clusters = snapshot.resources(CLUSTER_TYPE)
        endpoints = snapshot.resources(ENDPOINT_TYPE)
        for name in resource.refs_of(CLUSTER_TYPE):
            cluster = clusters.get(name)
            if cluster is None or name in seen:
                continue  # a dangling reference will not resolve by waiting
            seen.add(name)
            if name not in cds.acked:
                return False
            for eds_name in cluster.refs_of(ENDPOINT_TYPE):
                if eds_name in endpoints and (eds is None or eds_name not in eds.acked):
                    return False
            if not self._ready(cluster, snapshot, seen):
                return False
        return True

    # status -------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return str(self.node.id) if self.node is not None else ""

    def status(self) -> StreamStatus:
        return StreamStatus(
            stream_id=self.stream_id,
            mode=self.mode,
            node_id=self.node_id,
            node_cluster=str(self.node.cluster) if self.node is not None else "",
            group=self.group,
            peer=self.peer,
            connected_at=self.connected_at,
            types={t: s.status() for t, s in self.types.items()},
        )


class _SotwStream(_Stream):
    mode: Mode = "sotw"

    def handle(self, request: Request) -> None:
        type_url = str(request.type_url)
        if not type_url:
            return
        state = self.types.get(type_url)
        first = state is None
        if state is None:
            state = self._new_type(type_url)
        nonce = str(request.response_nonce)
        if nonce and state.sends and nonce != state.sent_nonce:
            return  # answers a response that has since been superseded
        wildcard, names = _split_wildcard(request.resource_names)
        if type_url in WILDCARD_TYPES:
            state.wildcard = wildcard or (not names and (first or state.wildcard))
        state.names = self.registry.intern_names(names)
        if not nonce or not state.sends:
            state.reply_due = True
        elif _is_nack(request):
            if state.nacked_nonce != nonce:
                message = str(request.error_detail.message)
                self._record_nack(state, state.sent_version, nonce, message)
        elif state.acked_version != state.sent_version or state.acked is not state.sent:
            self._record_ack(state, state.sent_version, state.sent)

    def _respond(self, state: _TypeState, desired: Selection, snapshot: Snapshot) -> bytes | None:
        if not state.reply_due and desired.version == state.sent_version:
            return None
        nonce = self._next_nonce()
        state.sent = desired.resources
        self._record_send(state, desired.version, nonce, len(desired))
        return desired.sotw_body() + encode_str_field(5, nonce)


class _DeltaStream(_Stream):
    mode: Mode = "delta"

    def handle(self, request: Request) -> None:
        type_url = str(request.type_url)
        if not type_url:
            return
        state = self.types.get(type_url)
        if state is None:
            state = self._new_type(type_url)
            state.sent = {}
            state.acked = {}
            state.wildcard = type_url in WILDCARD_TYPES and not request.resource_names_subscribe
            state.foreign = dict(request.initial_resource_versions)
        sent, acked = self._own(state)
        names = set(state.names)
        for name in request.resource_names_subscribe:
            if name == "*":
                state.wildcard = True
            else:
                names.add(name)
        for name in request.resource_names_unsubscribe:
            if name == "*":
                state.wildcard = False
                continue
            names.discard(name)
            state.absent.discard(name)
            if not state.wildcard:
                sent.pop(name, None)
                acked.pop(name, None)
                state.foreign.pop(name, None)
        state.names = frozenset(names)
        nonce = str(request.response_nonce)
        inflight = state.inflight.pop(nonce, None) if nonce else None
        if inflight is None:
            return
        if _is_nack(request):
            self._record_nack(state, inflight.version, nonce, str(request.error_detail.message))
            return
        for resource in inflight.updated:
            if state.subscribed(resource.name):
                acked[resource.name] = resource
        for name in inflight.removed:
            acked.pop(name, None)
        self._record_ack(state, inflight.version, acked)

    @staticmethod
    def _own(state: _TypeState) -> tuple[dict[str, Resource], dict[str, Resource]]:
        sent, acked = state.sent, state.acked
        assert isinstance(sent, dict) and isinstance(acked, dict)
        return sent, acked

    def _respond(self, state: _TypeState, desired: Selection, snapshot: Snapshot) -> bytes | None:
        sent, acked = self._own(state)
        if state.foreign:
            self._adopt_foreign(state, snapshot, sent, acked)
        updated = [
            desired.resources[name]
            for name in sorted(desired.resources)
            if (held := sent.get(name)) is None or held.version != desired.resources[name].version
        ]
        removed = sorted(
            name for name in itertools.chain(sent, state.foreign) if name not in desired.resources
        )
        available = snapshot.resources(state.type_url)
        absent = sorted(
            name
            for name in state.names
            if name not in available
            and name not in desired.resources
            and name not in sent
            and name not in state.absent
        )
        if not (updated or removed or absent or state.reply_due):
            return None
        nonce = self._next_nonce()
        for resource in updated:
            sent[resource.name] = resource
            state.foreign.pop(resource.name, None)
            state.absent.discard(resource.name)
        for name in removed:
            sent.pop(name, None)
            state.foreign.pop(name, None)
        state.absent.update(absent)
        body = b"".join(
            [
                encode_str_field(1, desired.version),
                *(resource.delta_entry for resource in updated),
                encode_str_field(4, state.type_url),
                encode_str_field(5, nonce),
                *(encode_bytes_field(6, name.encode()) for name in (*removed, *absent)),
            ]
        )
        if len(state.inflight) >= _INFLIGHT_LIMIT:
            del state.inflight[next(iter(state.inflight))]
        state.inflight[nonce] = _Inflight(desired.version, tuple(updated), tuple(removed))
        self._record_send(state, desired.version, nonce, len(updated) + len(removed))
        return body

    @staticmethod
    def _adopt_foreign(
        state: _TypeState,
        snapshot: Snapshot,
        sent: dict[str, Resource],
        acked: dict[str, Resource],
    ) -> None:
        """Recognise resources a reconnecting proxy already holds at our version."""
        available = snapshot.resources(state.type_url)
        for name, version in list(state.foreign.items()):
            resource = available.get(name)
            if resource is not None and resource.version == version:
                sent[name] = resource
                acked[name] = resource
                del state.foreign[name]


# -- the servicer -----------------------------------------------------------


class AdsServicer:
    """``AggregatedDiscoveryService`` over ``grpc.aio``.

    Responses are produced as already-encoded bytes and registered with an
    identity serializer, so a push never re-serializes resources per stream.
    """

    def __init__(
        self,
        cache: SnapshotCache,
        registry: StreamRegistry | None = None,
        *,
        ordering_timeout: float = 5.0,
    ) -> None:
        self.cache = cache
        self.ordering_timeout = ordering_timeout
        self.registry = registry if registry is not None else StreamRegistry()
        self._ids = itertools.count(1)

    async def StreamAggregatedResources(
        self, requests: AsyncIterator[Request], context: Context
    ) -> AsyncIterator[bytes]:
        stream = _SotwStream(next(self._ids), context.peer(), self.registry, self.ordering_timeout)
        async for response in self._serve(stream, requests, context):
            yield response
            del response  # an idle stream must not pin the last body it sent

    async def DeltaAggregatedResources(
        self, requests: AsyncIterator[Request], context: Context
    ) -> AsyncIterator[bytes]:
        stream = _DeltaStream(next(self._ids), context.peer(), self.registry, self.ordering_timeout)
        async for response in self._serve(stream, requests, context):
            yield response
            del response  # an idle stream must not pin the last body it sent

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:  # type: ignore[type-arg]
        def identity(payload: bytes) -> bytes:
            return payload

        sotw: Any = self.StreamAggregatedResources
        delta: Any = self.DeltaAggregatedResources
        return {
            SOTW_METHOD: grpc.stream_stream_rpc_method_handler(
                sotw,
                request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
                response_serializer=identity,
            ),
            DELTA_METHOD: grpc.stream_stream_rpc_method_handler(
                delta,
                request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
                response_serializer=identity,
            ),
        }

    def add_to_server(self, server: grpc.aio.Server) -> None:
        handlers = self.method_handlers()
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),)
        )
        register: Any = getattr(server, "add_registered_method_handlers", None)
        if register is not None:
            register(SERVICE_NAME, handlers)

    async def _serve(
        self, stream: _Stream, requests: AsyncIterator[Request], context: Context
    ) -> AsyncIterator[bytes]:
        self.registry._add(stream)
        reader = asyncio.create_task(self._pump(requests, stream))
        try:
            while True:
                await stream.wake.wait()
                stream.wake.clear()
                while stream.inbox:
                    request = stream.inbox.popleft()
                    if stream.node is None:
                        await self._identify(stream, request, context)
                    try:
                        stream.handle(request)
                    except _Refused as exc:
                        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
                stream.drained.set()
                snapshot = self.cache.get_snapshot(stream.group) if stream.node else None
                if snapshot is not None:
                    for response in stream.evaluate(snapshot):
                        yield response
                    response = b""  # an idle stream must not pin the last body it sent
                if stream.closed and not stream.inbox:
                    break
            if stream.error is not None:
                raise stream.error
        finally:
            reader.cancel()
            stream.close()
            self.registry._remove(stream)
            if stream.node is not None:
                self.cache.unwatch(stream.group, stream.wake)
                log.info(
                    "node %s disconnected (%s stream %d)",
                    stream.node_id,
                    stream.mode,
                    stream.stream_id,
                )
                self.registry._emit("on_disconnect", stream.status())

    async def _identify(self, stream: _Stream, request: Request, context: Context) -> None:
        if not request.HasField("node") or not request.node.id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "first request carries no node id"
            )
        try:
            group = self.cache.group_of(request.node)
            hash(group)
        except Exception as exc:
            log.exception("cannot place node %s in a group", request.node.id)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"no node group: {exc}")
        stream.node = request.node
        stream.group = group
        self.cache.watch(group, stream.wake)
        log.info(
            "node %s (cluster %s) connected over %s, group %r",
            stream.node_id,
            request.node.cluster,
            stream.mode,
            group,
        )
        self.registry._emit("on_connect", stream.status())

    @staticmethod
    async def _pump(requests: AsyncIterator[Request], stream: _Stream) -> None:
        try:
            async for request in requests:
                stream.inbox.append(request)
                del request  # handled from the inbox; an idle stream keeps none
                stream.wake.set()
                while len(stream.inbox) >= _INBOX_LIMIT:
                    stream.drained.clear()
                    await stream.drained.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.error = exc
        finally:
            stream.closed = True
            stream.wake.set()


# -- server -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class XdsServerOptions:
    """gRPC server settings; times in seconds, sizes in bytes."""

    max_receive_message_length: int = 4 * 1024 * 1024
    max_send_message_length: int = 64 * 1024 * 1024
    max_concurrent_streams: int | None = None
    keepalive_time: float = 30.0
    keepalive_timeout: float = 10.0
    min_ping_interval: float = 10.0
    max_connection_age: float | None = None
    """Rebalances proxies across replicas by closing connections this old."""
    ordering_timeout: float = 5.0
    """How long a route or listener update waits for the clusters it uses."""
    extra: tuple[tuple[str, int | str], ...] = ()

    def grpc_options(self) -> list[tuple[str, int | str]]:
        options: list[tuple[str, int | str]] = [
            ("grpc.max_receive_message_length", self.max_receive_message_length),
            ("grpc.max_send_message_length", self.max_send_message_length),
            ("grpc.keepalive_time_ms", int(self.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout * 1000)),
            ("grpc.http2.min_ping_interval_without_data_ms", int(self.min_ping_interval * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.so_reuseport", 0),
        ]
        if self.max_concurrent_streams is not None:
            options.append(("grpc.max_concurrent_streams", self.max_concurrent_streams))
        if self.max_connection_age is not None:
            options.append(("grpc.max_connection_age_ms", int(self.max_connection_age * 1000)))
        options.extend(self.extra)
        return options


ServerHook = Callable[[grpc.aio.Server], None]


class XdsServer:
    """A started-on-demand ``grpc.aio`` server carrying ADS (and whatever else is added).

    ``services`` lets other gRPC services (Breakwater's own API) share the port.
    """

    def __init__(
        self,
        cache: SnapshotCache,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        registry: StreamRegistry | None = None,
        options: XdsServerOptions | None = None,
        services: Sequence[ServerHook] = (),
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.cache = cache
        self.credentials = credentials
        self.host = host
        self.requested_port = port
        self.options = options or XdsServerOptions()
        self.servicer = AdsServicer(cache, registry, ordering_timeout=self.options.ordering_timeout)
        self._services = tuple(services)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def registry(self) -> StreamRegistry:
        return self.servicer.registry

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def server(self) -> grpc.aio.Server:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with ``port=0``)."""
        if self._server is not None:
            return self.port
        server = grpc.aio.server(options=self.options.grpc_options())
        self.servicer.add_to_server(server)
        for hook in self._services:
            hook(server)
        host = f"[{self.host}]" if ":" in self.host else self.host
        # A restarted server keeps the port it had, so proxies find it again.
        wanted = self.requested_port or self.port
        address = f"{host}:{wanted}"
        if self.credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, self.credentials)
        if port == 0:
            raise OSError(f"cannot bind xDS server to {self.host}:{wanted}")
        await server.start()
        self._server = server
        self.port = port
        log.info("xDS server listening on %s", self.address)
        return port

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving; open streams are cancelled after ``grace`` seconds.

        ``start()`` may be called again and binds the same port.
        """
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()

    async def __aenter__(self) -> XdsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop(0)


async def serve_xds(
    cache: SnapshotCache,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    registry: StreamRegistry | None = None,
    options: XdsServerOptions | None = None,
    services: Sequence[ServerHook] = (),
) -> XdsServer:
    """Start an xDS server and return it (call ``stop()`` when done)."""
    server = XdsServer(
        cache, host=host, port=port, registry=registry, options=options, services=services
    )
    await server.start()
    return server


__all__ = [
    "DELTA_METHOD",
    "SERVICE_NAME",
    "SOTW_METHOD",
    "AdsServicer",
    "Mode",
    "StreamRegistry",
    "StreamStatus",
    "SyncState",
    "TypeStatus",
    "XdsObserver",
    "XdsServer",
    "XdsServerOptions",
    "serve_xds",
]
