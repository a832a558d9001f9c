"""What one ADS stream knows and does, whichever flavour it speaks.

A stream reads requests into a bounded inbox, keeps a
:class:`~.subscription.Subscription` per type URL, and on every wake-up
works out the responses due against the group's snapshot, in push order and
after the make-before-break rules of :mod:`.ordering`. How a request is read
and a response built differs between State of the World and Delta: the
subclasses in :mod:`.sotw` and :mod:`.delta` supply ``handle`` and
``_respond``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Hashable, Mapping

from .ordering import HELD_TYPES, SharedVerdicts, hold_back, keep, kept_clusters, with_changes
from .resources import Resource, Selection, Snapshot, order_types, short_name
from .source import Node
from .status import Mode, StreamRegistry, StreamStatus
from .subscription import Request, Subscription

log = logging.getLogger(__name__)

INBOX_LIMIT = 64
"""Requests read ahead of the stream's own processing; past it the stream stops reading, and
HTTP/2 flow control holds back a client that writes without reading the responses."""
_TYPES_LIMIT = 64
"""Type URLs one stream may ask for (Envoy uses about ten); every request re-checks them all."""


class Signal:
    """An ``asyncio.Event`` for one waiter: the stream's own loop.

    An Event keeps a deque of waiters (a 64-slot block each); a stream has one
    waiter at most, so one future, made while it waits, is all it needs. The loop
    is looked up once: ``asyncio.get_running_loop`` asks the kernel for the process
    id on every call, once per stream per push.
    """

    __slots__ = ("_flag", "_loop", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._flag = False

    async def wait(self) -> None:
        if self._flag:
            return
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None


class Refused(Exception):
    """The client asked for more than a stream may hold; the stream ends with this message."""


class Stream:
    """What one ADS stream knows; subclasses speak SotW or Delta."""

    mode: Mode
    verdicts: SharedVerdicts | None = None
    """Where the ordering verdicts of streams with shared, frozen ACKed mappings are kept."""

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
        self.types: dict[str, Subscription] = {}
        self.inbox: list[Request] = []
        """Requests read and not yet handled (a list: at most ``INBOX_LIMIT``, and an idle
        stream's empty list costs a tenth of an empty deque's block)."""
        self.wake = Signal()
        self.drained = Signal()
        self.idle = False
        """The servicer's loop waits for a wake-up with nothing left to do: a request read
        now is handled at once by the reader (see `read`)."""
        self.refused: Refused | None = None
        """Why the reader stopped: the client asked for more than a stream may hold."""
        self.closed = False
        self.evaluated = ""
        """Version of the last snapshot this stream looked at."""
        self.error: BaseException | None = None
        self._nonces = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None

    # requests -----------------------------------------------------------

    async def read(self, requests: AsyncIterator[Request]) -> None:
        """Handle or queue requests until the client is done, waking the stream when due.

        Runs as its own task beside the stream's loop. While that loop is idle and
        nothing is queued, a request is handled here and the loop woken only if the
        stream may now owe a response (`quiet`): an ACK of the response just sent,
        one per stream per push, costs no second task switch. Otherwise it is queued
        for the loop, and while the loop is busy writing the queue is bounded, so a
        client that does not read is held back by flow control. A read error ends the
        stream with that error once the inbox has been handled.
        """
        try:
            async for request in requests:
                if (
                    self.idle
                    and self.node is not None
                    and not self.inbox
                    and not self.wake.is_set()
                ):
                    try:
                        self.handle(request)
                    except Refused as exc:
                        self.refused = exc
                        return
                    del request  # an idle stream keeps none
                    if not self.quiet():
                        self.wake.set()
                    continue
                self.inbox.append(request)
                del request  # handled from the inbox; an idle stream keeps none
                self.wake.set()
                while len(self.inbox) >= INBOX_LIMIT:
                    self.drained.clear()
                    await self.drained.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
        finally:
            self.closed = True
            self.wake.set()

    def handle(self, request: Request) -> None:
        raise NotImplementedError

    def quiet(self) -> bool:
        """Whether evaluating the snapshot last evaluated again would send and change nothing.

        Only a flavour that can tell exactly says yes; otherwise the stream is evaluated
        after every request, as it always may be.
        """
        return False

    def _new_type(self, type_url: str) -> Subscription:
        if len(self.types) >= _TYPES_LIMIT:
            raise Refused(
                f"a stream may ask for at most {_TYPES_LIMIT} resource types; "
                f"{type_url[:100]!r} would be one more"
            )
        state = self.types[type_url] = Subscription(type_url, delta=self.mode == "delta")
        return state

    def _record_ack(self, state: Subscription, version: str, acked: Mapping[str, Resource]) -> None:
        state.record_ack(version, acked)
        self.registry.emit("on_ack", self.node, state.type_url, version)

    def _record_nack(self, state: Subscription, version: str, nonce: str, message: str) -> None:
        state.record_nack(version, nonce, message)
        log.warning(
            "node %s rejected %s version %s: %s",
            self.node_id,
            short_name(state.type_url),
            version,
            message,
        )
        self.registry.emit("on_nack", self.node, state.type_url, version, message)

    # responses ----------------------------------------------------------

    def evaluate(self, snapshot: Snapshot) -> list[bytes]:
        """Responses due now, in make-before-break order (State of the World streams share
        their decisions instead: `SotwStream.evaluate`)."""
        self.evaluated = snapshot.version
        kept = kept_clusters(self.types, snapshot)
        out: list[bytes] = []
        for type_url in order_types(self.types):
            state = self.types[type_url]
            desired = self._desired(state, snapshot, kept)
            response = self._respond(state, desired, snapshot)
            if response is not None:
                out.append(response)
        return out

    def _respond(self, state: Subscription, desired: Selection, snapshot: Snapshot) -> bytes | None:
        raise NotImplementedError

    def _next_nonce(self) -> str:
        return str(next(self._nonces))

    def _record_send(self, state: Subscription, version: str, nonce: str, count: int) -> None:
        state.record_send(version, nonce)
        if log.isEnabledFor(logging.DEBUG):  # its arguments cost more than the check
            log.debug(
                "node %s: %s version %s, %d resources, nonce %s",
                self.node_id,
                short_name(state.type_url),
                version,
                count,
                nonce,
            )
        self.registry.emit("on_send", self.node, state.type_url, version, count)

    def _desired(self, state: Subscription, snapshot: Snapshot, kept: frozenset[str]) -> Selection:
        """What the proxy should hold for a type, after the ordering rules."""
        selection = snapshot.select(state.type_url, None if state.wildcard else state.names)
        state.target_version = selection.version
        if state.type_url not in HELD_TYPES:
            return keep(state, self.types, selection, kept)
        hold = hold_back(
            state,
            self.types,
            selection,
            snapshot,
            now=time.monotonic(),
            timeout=self.ordering_timeout,
            verdicts=self.verdicts,
        )
        state.held_since = hold.since
        if hold.wait is not None:
            self._wake_in(hold.wait)
        if hold.overdue:
            log.warning(
                "node %s: sending %s %s although clusters they use are not acknowledged after %.1fs",
                self.node_id,
                short_name(state.type_url),
                ", ".join(hold.overdue),
                self.ordering_timeout,
            )
        return with_changes(selection, hold.held)

    def _wake_in(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is None or self._timer.when() > loop.time() + delay:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.wake.set()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # status -------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return str(self.node.id) if self.node is not None else ""

    def synced_with(self, version: str | None) -> bool:
        """Whether this stream looked at snapshot ``version`` and the proxy ACKed all it is due."""
        return self.evaluated == version and all(t.state() == "synced" for t in self.types.values())

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
            user_agent=self.user_agent,
        )

    @property
    def user_agent(self) -> str:
        node = self.node
        if node is None:
            return ""
        return f"{node.user_agent_name} {node.user_agent_version}".strip()


__all__ = ["INBOX_LIMIT", "Refused", "Signal", "Stream"]
