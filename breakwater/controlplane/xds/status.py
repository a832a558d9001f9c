"""What the xDS server tells the rest of the control plane: per-stream status and hooks.

The admin API, ``breakwater status`` and the metrics read the connected
proxies from a :class:`StreamRegistry` and learn about sends, ACKs and NACKs
through :class:`XdsObserver` hooks. This module knows streams only through
the small :class:`TrackedStream` interface, so it imports none of the stream
code and the stream code can import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeVar

from .collector import STREAMS
from .resources import short_name
from .source import Node

log = logging.getLogger(__name__)

Mode = Literal["sotw", "delta"]
SyncState = Literal["waiting", "synced", "stale", "nacked"]

T = TypeVar("T")

_MEMBERSHIP_HOOKS = frozenset({"on_connect", "on_disconnect"})
_NO_TYPES: Mapping[str, TypeStatus] = MappingProxyType({})

_NAMES_LIMIT = 4096
"""Distinct subscriptions interned at once; past it the table starts over (sharing is an
optimisation, so forgetting costs memory, never correctness)."""


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
    user_agent: str = ""
    """The node's `user_agent_name` and `user_agent_version`, as it sent them."""

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


class TrackedStream(Protocol):
    """What the registry needs from a live stream."""

    @property
    def stream_id(self) -> int: ...

    @property
    def node(self) -> Node | None:
        """``None`` until the first request identified the proxy."""

    @property
    def group(self) -> Hashable: ...

    def status(self) -> StreamStatus: ...

    def synced_with(self, version: str | None) -> bool:
        """Whether the stream looked at snapshot ``version`` and the proxy ACKed all it is due.

        Answered without building status objects: convergence asks this of
        every stream on every burst of ACKs.
        """


class StreamRegistry:
    """The connected proxies, for the admin API, status and metrics."""

    def __init__(self, observers: Iterable[XdsObserver] = ()) -> None:
        self._streams: dict[int, TrackedStream] = {}
        self._observers: list[XdsObserver] = list(observers)
        self._names: dict[frozenset[str], frozenset[str]] = {}
        self.membership = 0
        """Counts identified streams coming and going (`on_connect`, `on_disconnect`): what
        was worked out from who is connected stays true while it holds."""
        self._members: dict[int, StreamStatus] = {}
        """Each identified stream's status as `on_connect` gave it, without its types: what
        `per_membership` works from (a stream's node and group never change)."""

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

    def streams(self) -> list[StreamStatus]:
        """Identified streams, oldest first."""
        return [s.status() for s in self._streams.values() if s.node is not None]

    def per_membership(self, compute: Callable[[list[StreamStatus]], T]) -> Callable[[], T]:
        """`compute` over the identified streams, worked out again only after one came or went.

        For what depends only on what a stream names when it starts (its node, its group):
        the reconciler asks for the proxies per zone on every build, and building the status
        of 10 000 streams for it was most of a push's CPU. Sync state changes without
        changing `membership`: a `compute` reading it must not be memoised this way, so it
        is not given any. Each stream is its status as `on_connect` gave it, with no types
        (kept until `on_disconnect` or `remove`), so a change of who is connected costs no
        status of every stream either (0.25 s at 10 000 streams, `bench/stream_walk.py`).
        """
        memo: list[tuple[int, T]] = []

        def current() -> T:
            if not memo or memo[0][0] != self.membership:
                memo[:] = [(self.membership, compute(list(self._members.values())))]
            return memo[0][1]

        return current

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
            if not stream.synced_with(wanted[group]):
                unsynced.add(group)
                if len(unsynced) == len(wanted):
                    break
        return present, unsynced

    def add(self, stream: TrackedStream) -> None:
        """Called by the servicer when a stream opens, before its first request."""
        if stream.stream_id not in self._streams:
            STREAMS.opened()
        self._streams[stream.stream_id] = stream

    def remove(self, stream: TrackedStream) -> None:
        """Called by the servicer when a stream ends."""
        if self._streams.pop(stream.stream_id, None) is not None:
            STREAMS.closed()
        self._members.pop(stream.stream_id, None)

    def emit(self, hook: str, *args: Any) -> None:
        """Run one :class:`XdsObserver` hook on every observer; a failing one is logged."""
        if hook in _MEMBERSHIP_HOOKS:
            status: StreamStatus = args[0]
            if hook == "on_connect":
                self._members[status.stream_id] = replace(status, types=_NO_TYPES)
            else:
                self._members.pop(status.stream_id, None)
            self.membership += 1  # before the observers, which may read what depends on it
        for observer in self._observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:
                log.exception("xDS observer %r failed in %s", observer, hook)


__all__ = [
    "Mode",
    "StreamRegistry",
    "StreamStatus",
    "SyncState",
    "TrackedStream",
    "TypeStatus",
    "XdsObserver",
]
