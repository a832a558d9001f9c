"""In the parent: the workers' streams, held by the parent's `StreamRegistry` as local ones are.

A `MirroredStream` answers `status()` and `synced_with` from the sync state its worker last
reported, so `/v1/status`, the metrics, fleet reports, rollouts, the proxies per zone and the
reconciler's convergence check read it as they read a stream of their own process. The
observer hooks run here, in the order the worker's streams emitted them. A mirrored stream
also watches its group in the parent's cache, as the stream it stands for does in its worker:
the reconciler keeps a group while something watches it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Hashable
from typing import Any

from envoy.config.core.v3 import base_pb2

from breakwater.controlplane.xds.cache import SnapshotCache
from breakwater.controlplane.xds.status import Mode, StreamRegistry, StreamStatus, TypeStatus

from .report import Batch, TypeRecord

log = logging.getLogger(__name__)

_ids = itertools.count(1)
"""Stream ids in the parent: unique across workers and their restarts."""


class MirroredStream:
    """A worker's stream as the parent's registry tracks it."""

    __slots__ = (
        "connected_at",
        "credential",
        "evaluated",
        "group",
        "mode",
        "node",
        "peer",
        "stream_id",
        "types",
        "worker_stream",
    )

    def __init__(
        self,
        worker_stream: int,
        mode: Mode,
        node: Any,
        group: Hashable,
        peer: str,
        connected_at: float,
        credential: bytes | None,
    ) -> None:
        self.stream_id = next(_ids)
        self.worker_stream = worker_stream
        self.mode = mode
        self.node = node
        self.group = group
        self.peer = peer
        self.connected_at = connected_at
        self.credential = credential
        self.evaluated = ""
        self.types: tuple[TypeRecord, ...] = ()
        """`TypeStatus`'s fields per type, as reported (built into statuses when asked)."""

    def set(self) -> None:
        """Woken by the parent's cache on a new snapshot: the worker's stream is woken by its
        own cache, and reports what it did."""

    def synced_with(self, version: str | None) -> bool:
        return self.evaluated == version and all(t[1] == "synced" for t in self.types)

    def status(self) -> StreamStatus:
        node = self.node
        return StreamStatus(
            stream_id=self.stream_id,
            mode=self.mode,
            node_id=str(node.id),
            node_cluster=str(node.cluster),
            group=self.group,
            peer=self.peer,
            connected_at=self.connected_at,
            types={t[0]: TypeStatus(*t) for t in self.types},
            user_agent=f"{node.user_agent_name} {node.user_agent_version}".strip(),
        )


class Mirror:
    """One worker's streams in the parent: applies its batches, and ends them when it dies."""

    def __init__(
        self,
        registry: StreamRegistry,
        cache: SnapshotCache,
        admitted: Callable[[MirroredStream], None] | None = None,
    ) -> None:
        self._registry = registry
        self._cache = cache
        self._admitted = admitted
        self._streams: dict[int, MirroredStream] = {}
        self._names: dict[int, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._streams)

    def apply(self, batch: Batch) -> None:
        names, updates, events = batch
        self._names.update(names)
        if len(self._names) > 8192:  # the worker numbers afresh past its limit; keep the newest
            for number in sorted(self._names)[: len(self._names) - 4096]:
                del self._names[number]
        opened: dict[int, MirroredStream] = {}
        for event in events:
            if event[0] == "c":
                _, sid, mode, node, group, peer, connected_at, credential = event
                opened[sid] = MirroredStream(
                    sid, mode, base_pb2.Node.FromString(node), group, peer, connected_at, credential
                )
        for sid, evaluated, records in updates:
            stream = self._streams.get(sid) or opened.get(sid)
            if stream is not None:
                stream.evaluated = evaluated
                stream.types = tuple(self._resolved(record) for record in records)
        for event in events:
            self._replay(event, opened)

    def _resolved(self, record: TypeRecord) -> TypeRecord:
        """The record with its names in place of their number."""
        return (*record[:3], self._names.get(record[3], ()), *record[4:])

    def _replay(self, event: tuple[Any, ...], opened: dict[int, MirroredStream]) -> None:
        kind, sid = event[0], event[1]
        if kind == "c":
            stream = opened[sid]
            self._streams[sid] = stream
            self._registry.add(stream)
            if self._admitted is not None:
                self._admitted(stream)
            self._cache.watch(stream.group, stream)
            self._registry.emit("on_connect", stream.status())
            return
        stream = self._streams.get(sid)  # type: ignore[assignment]
        if stream is None:
            return
        if kind == "d":
            self._end(stream)
        elif kind == "s":
            self._registry.emit("on_send", stream.node, *event[2:])
        elif kind == "a":
            self._registry.emit("on_ack", stream.node, *event[2:])
        elif kind == "n":
            self._registry.emit("on_nack", stream.node, *event[2:])

    def _end(self, stream: MirroredStream) -> None:
        del self._streams[stream.worker_stream]
        self._cache.unwatch(stream.group, stream)
        self._registry.remove(stream)
        self._registry.emit("on_disconnect", stream.status())

    def end_all(self) -> int:
        """The worker is gone: each of its streams ends here as it did there."""
        streams = list(self._streams.values())
        for stream in streams:
            self._end(stream)
        return len(streams)


__all__ = ["Mirror", "MirroredStream"]
