"""Coalesce bursts of change signals into one rebuild.

Saving a policy directory, or a script shifting weights step by step, fires
many signals within milliseconds. Rebuilding snapshots and pushing to every
proxy for each one wastes work and makes proxies walk through intermediate
states. The debouncer waits for a quiet period, but never longer than a cap
after the first signal of a burst, so a steady trickle of changes still gets
pushed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from breakwater.defaults import DEBOUNCE_CAP, DEBOUNCE_QUIET

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]


class Debouncer:
    """Calls ``callback`` once per burst of :meth:`signal` calls; never concurrently.

    A signal that arrives while the callback runs starts a new burst, so the
    change it announces is picked up by a later call rather than lost.
    """

    def __init__(
        self, callback: Callback, *, quiet: float = DEBOUNCE_QUIET, cap: float = DEBOUNCE_CAP
    ) -> None:
        if quiet < 0 or cap < 0:
            raise ValueError("quiet and cap must not be negative")
        self._callback = callback
        self.quiet = quiet
        self.cap = cap
        self._first: float | None = None
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None
        self._closed = False
        self.signals = 0
        self.calls = 0
        self.failures = 0

    @property
    def pending(self) -> bool:
        """A burst is waiting to be delivered."""
        return self._first is not None

    def signal(self) -> None:
        if self._closed:
            raise RuntimeError("debouncer is closed")
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.signals += 1
        self._last = now
        if self._first is None:
            self._first = now
        if self._running is None and self._timer is None:
            self._schedule(loop)

    async def flush(self) -> None:
        """Deliver a pending burst now and wait until no call is in flight."""
        while True:
            if self._running is not None:
                await asyncio.shield(self._running)
                continue
            if self._first is None:
                return
            self._cancel_timer()
            self._start()

    async def close(self, *, flush: bool = False) -> None:
        """Stop; a pending burst is delivered only with ``flush=True``."""
        if flush:
            await self.flush()
        self._closed = True
        self._cancel_timer()
        self._first = None
        if self._running is not None:
            await asyncio.shield(self._running)

    def _deadline(self) -> float:
        assert self._first is not None
        return min(self._last + self.quiet, self._first + self.cap)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._cancel_timer()
        self._timer = loop.call_at(self._deadline(), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._first is None or self._running is not None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline():
            # A signal moved the quiet deadline since the timer was armed.
            self._schedule(loop)
            return
        self._start()

    def _start(self) -> None:
        self._first = None
        self._running = asyncio.get_running_loop().create_task(self._deliver())

    async def _deliver(self) -> None:
        try:
            self.calls += 1
            await self._callback()
        except Exception:
            self.failures += 1
            log.exception("debounced callback failed")
        finally:
            self._running = None
            if self._first is not None and not self._closed:
                self._schedule(asyncio.get_running_loop())

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


__all__ = ["Callback", "Debouncer"]
