"""One resource type on one stream: what the proxy asked for, was sent, ACKed and rejected.

Both stream flavours keep one :class:`Subscription` per type URL, and the
ordering rules read them, so the bookkeeping lives here once. It is plain
data with no gRPC or asyncio in it: a stream of thousands stays a few
slotted objects per type.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeAlias

from breakwater.controlplane.limits import bounded

from .resources import Resource
from .status import SyncState, TypeStatus

Request: TypeAlias = Any
"""A ``DiscoveryRequest`` or ``DeltaDiscoveryRequest`` (the generated classes carry no types)."""

_EMPTY: Mapping[str, Resource] = MappingProxyType({})
_INFLIGHT_LIMIT = 32
"""Delta responses remembered while they await an ACK; a proxy that never answers cannot
make the stream remember more (the oldest is forgotten, and its ACK then ignored)."""


class _Unused(dict):  # type: ignore[type-arg]
    """The Delta-only mapping of a State of the World subscription: empty, and never written."""

    def __setitem__(self, key: object, value: object) -> None:
        raise TypeError("a State of the World subscription keeps no Delta state")


class _UnusedSet(set):  # type: ignore[type-arg]
    """The Delta-only set of a State of the World subscription: empty, and never written."""

    def add(self, item: object) -> None:
        raise TypeError("a State of the World subscription keeps no Delta state")

    def update(self, *items: object) -> None:
        raise TypeError("a State of the World subscription keeps no Delta state")


_NOT_DELTA_MAP: dict[str, str] = _Unused()
_NOT_DELTA_SET: set[str] = _UnusedSet()


@dataclass(frozen=True, slots=True)
class Inflight:
    """A Delta response awaiting its ACK: applied to ``acked`` only once the proxy accepts it."""

    version: str
    updated: tuple[Resource, ...]
    removed: tuple[str, ...]


_NOT_DELTA_INFLIGHT: dict[str, Inflight] = _Unused()


def is_nack(request: Request) -> bool:
    """A request carrying ``error_detail`` rejects the response its nonce names."""
    return bool(request.HasField("error_detail"))


def split_wildcard(names: Iterable[str]) -> tuple[bool, frozenset[str]]:
    """``*`` among the names asks for every resource of the type, beside the named ones."""
    named = frozenset(names)
    return "*" in named, named - {"*"}


class Subscription:
    """The state of one type URL on one stream."""

    __slots__ = (
        "absent",
        "acked",
        "acked_at",
        "acked_version",
        "awaiting_ack",
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

    def __init__(self, type_url: str, *, delta: bool = False) -> None:
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
        # State of the World: the last response is not yet ACKed or NACKed, so a
        # request with its nonce answers it (afterwards it asks for it again).
        self.awaiting_ack = False
        # Since when (monotonic) a listener or route update waits for its clusters.
        self.held_since: float | None = None
        # Delta only: versions the proxy reported that no snapshot resource
        # matched, responses awaiting ACK, names reported as not existing. A State
        # of the World subscription never touches them and shares empty ones: at
        # 10 000 streams of four types, their own would be 14 MB of empty containers.
        self.foreign: dict[str, str] = {} if delta else _NOT_DELTA_MAP
        self.inflight: dict[str, Inflight] = {} if delta else _NOT_DELTA_INFLIGHT
        self.absent: set[str] = set() if delta else _NOT_DELTA_SET

    def subscribed(self, name: str) -> bool:
        return self.wildcard or name in self.names

    def record_send(self, version: str, nonce: str) -> None:
        self.sent_version = version
        self.sent_nonce = nonce
        self.sent_at = time.time()
        self.sends += 1
        self.reply_due = False
        self.awaiting_ack = True

    def record_ack(self, version: str, acked: Mapping[str, Resource]) -> None:
        self.acked = acked
        self.acked_version = version
        self.acked_at = time.time()
        self.awaiting_ack = False

    def record_nack(self, version: str, nonce: str, message: str) -> None:
        """Remember the rejection; ``nacked_nonce`` keeps the state ``nacked`` until a new send."""
        self.nack_version = version
        self.nack_message = bounded(message)
        self.nack_at = time.time()
        self.nacks += 1
        self.nacked_nonce = nonce
        self.awaiting_ack = False

    def expect(self, nonce: str, inflight: Inflight) -> None:
        """Remember a Delta response until the request answering ``nonce`` arrives."""
        if len(self.inflight) >= _INFLIGHT_LIMIT:
            del self.inflight[next(iter(self.inflight))]
        self.inflight[nonce] = inflight

    def answered(self, nonce: str) -> Inflight | None:
        """The Delta response ``nonce`` names, forgotten now; ``None`` if unknown or too old."""
        return self.inflight.pop(nonce, None)

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


__all__ = ["Inflight", "Request", "Subscription", "is_nack", "split_wildcard"]
