"""In a worker: what its streams do, told to the parent once per event-loop turn.

The worker's `StreamRegistry` is a `Reporter`: every observer event a stream emits (connect
with its node, send, ACK, NACK with its message, disconnect) is queued as a compact tuple, and
every stream that had one, or looked at a new snapshot, has its sync state (per type, what
`Subscription.status` reports, and the snapshot version it last looked at) queued once. One
batch per turn goes to the parent, whose `mirror` replays it. A subscription's names travel
once per distinct set (streams of a group share them), then by number.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any, TypeAlias

from breakwater.controlplane.xds.delta import DeltaStream
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.controlplane.xds.server import AdsServicer, Context
from breakwater.controlplane.xds.sotw import SotwStream
from breakwater.controlplane.xds.status import StreamRegistry, StreamStatus
from breakwater.controlplane.xds.stream import Stream

TypeRecord: TypeAlias = tuple[Any, ...]
"""(type URL, state, wildcard, names number, resources, target version, sent version, sent
nonce, sent at, sends, ACKed version, ACKed at, NACKed version, NACK message, NACKed at,
NACKs): `TypeStatus`'s fields, the subscribed names by number."""
Update: TypeAlias = tuple[int, str, tuple[TypeRecord, ...]]
"""(stream id, snapshot version last looked at, its types)."""
Batch: TypeAlias = tuple[list[tuple[int, tuple[str, ...]]], list[Update], list[tuple[Any, ...]]]
"""(names first seen, sync states, events in the order they happened)."""

_NAMES_LIMIT = 4096
"""Distinct name sets numbered at once; past it numbering starts over (the parent keeps the
names themselves, not their numbers)."""


class Reporter(StreamRegistry):
    """The worker's registry: local observers run as usual, and the parent hears of it all."""

    def __init__(self, send: Callable[[Batch], None], credential: Callable[[int], bytes | None]):
        super().__init__()
        self._send = send
        self._credential = credential
        self._by_node: dict[int, Stream] = {}
        """id(node) → its stream: send, ACK and NACK hooks name the node, not the stream."""
        self._node_of: dict[int, int] = {}
        """Stream id → id(node), to forget the stream when it ends."""
        self._dirty: dict[int, Stream] = {}
        self._events: list[tuple[Any, ...]] = []
        self._numbered: dict[frozenset[str], int] = {}
        self._new_names: list[tuple[int, tuple[str, ...]]] = []
        self._numbers = itertools.count(1)
        self._flush: asyncio.Handle | None = None

    def emit(self, hook: str, *args: Any) -> None:
        super().emit(hook, *args)
        if hook == "on_connect":
            status: StreamStatus = args[0]
            stream: Stream | None = self._streams.get(status.stream_id)  # type: ignore[assignment]
            if stream is None or stream.node is None:
                return
            self._by_node[id(stream.node)] = stream
            self._node_of[stream.stream_id] = id(stream.node)
            self._events.append(
                (
                    "c",
                    stream.stream_id,
                    stream.mode,
                    stream.node.SerializeToString(),
                    stream.group,
                    stream.peer,
                    stream.connected_at,
                    self._credential(stream.stream_id),
                )
            )
            self._dirty[stream.stream_id] = stream
        elif hook == "on_disconnect":
            status = args[0]
            self._by_node.pop(self._node_of.pop(status.stream_id, 0), None)
            self._dirty.pop(status.stream_id, None)
            self._events.append(("d", status.stream_id))
        else:
            stream = self._by_node.get(id(args[0]))
            if stream is None:
                return
            self._events.append((hook[3], stream.stream_id, *args[1:]))
            self._dirty[stream.stream_id] = stream
        self._schedule()

    def looked_at(self, stream: Stream) -> None:
        """A stream evaluated a snapshot: its sync state may have changed without an event."""
        if stream.node is not None:
            self._dirty[stream.stream_id] = stream
            self._schedule()

    def _schedule(self) -> None:
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what this turn's streams did, as one batch."""
        self._flush = None
        if not self._events and not self._dirty:
            return
        updates = [self._update(stream) for stream in self._dirty.values()]
        batch: Batch = (self._new_names, updates, self._events)
        self._dirty = {}
        self._events = []
        self._new_names = []
        self._send(batch)

    def _update(self, stream: Stream) -> Update:
        records = []
        for state in stream.types.values():
            names = self._number(state.names)
            records.append(
                (
                    state.type_url,
                    state.state(),
                    state.wildcard,
                    names,
                    len(state.sent),
                    state.target_version,
                    state.sent_version,
                    state.sent_nonce,
                    state.sent_at,
                    state.sends,
                    state.acked_version,
                    state.acked_at,
                    state.nack_version,
                    state.nack_message,
                    state.nack_at,
                    state.nacks,
                )
            )
        return stream.stream_id, stream.evaluated, tuple(records)

    def _number(self, names: frozenset[str]) -> int:
        number = self._numbered.get(names)
        if number is None:
            if len(self._numbered) >= _NAMES_LIMIT:
                self._numbered.clear()
            number = self._numbered[names] = next(self._numbers)
            self._new_names.append((number, tuple(sorted(names))))
        return number


class _ReportedSotw(SotwStream):
    """A stream that tells its `Reporter` each time it looks at a snapshot."""

    def evaluate(self, snapshot: Snapshot) -> list[bytes]:
        out = super().evaluate(snapshot)
        self.registry.looked_at(self)  # type: ignore[attr-defined]
        return out


class _ReportedDelta(DeltaStream):
    """A stream that tells its `Reporter` each time it looks at a snapshot."""

    def evaluate(self, snapshot: Snapshot) -> list[bytes]:
        out = super().evaluate(snapshot)
        self.registry.looked_at(self)  # type: ignore[attr-defined]
        return out


class ReportingServicer(AdsServicer):
    """`AdsServicer` whose streams report to the worker's `Reporter`; the same loop serves them."""

    registry: Reporter

    async def StreamAggregatedResources(self, requests: Any, context: Context) -> Any:
        stream = _ReportedSotw(
            next(self._ids), context.peer(), self.registry, self.ordering_timeout
        )
        async for response in self._serve(stream, requests, context):
            yield response
            del response  # an idle stream must not pin the last body it sent

    async def DeltaAggregatedResources(self, requests: Any, context: Context) -> Any:
        stream = _ReportedDelta(
            next(self._ids), context.peer(), self.registry, self.ordering_timeout
        )
        async for response in self._serve(stream, requests, context):
            yield response
            del response  # an idle stream must not pin the last body it sent


__all__ = ["Batch", "Reporter", "ReportingServicer", "TypeRecord", "Update"]
