"""The cyclic garbage collector's youngest generation, sized to the streams a process serves.

A push wakes every stream of a group, and while it is under way each stream holds a
handful of new container objects (the future it waits on, gRPC's pending read and its
coroutines, the response being written) that are all freed by reference counting
once its ACK is in. CPython collects its youngest generation every 700 net
allocations, so a push to 10 000 streams ran about a hundred young collections, a
dozen middle ones and, with the objects parked meanwhile promoted, a full collection
of the whole heap (800 000 objects) on every push: two fifths of the push's CPU,
measured with the collector's own callbacks. A young collection is due only when the
tracked objects grow by the threshold (a freed object counts back), so with
``PER_STREAM`` allowed per open stream a push runs none at all: its objects are gone
before the count gets there, and a push leaves no cyclic garbage behind (the count
after each push is back where it was).

The threshold only grows above the process's own (read when the first stream opens,
so a server that set its own keeps it as the floor) and falls back with the streams.
Whatever cycles do become garbage go at the next young collection, at most ``LIMIT``
allocations later.
"""

from __future__ import annotations

import gc

PER_STREAM = 20
"""Net young allocations allowed per open stream before a collection: more than a push holds
at once per stream (8 gave one young collection per push, 20 none)."""
LIMIT = 200_000
"""The largest threshold used, whatever the number of streams."""


class CollectorFit:
    """Open streams of the process, and the young-generation threshold that follows them."""

    __slots__ = ("_floor", "_open")

    def __init__(self) -> None:
        self._open = 0
        self._floor: int | None = None

    @property
    def open(self) -> int:
        return self._open

    def opened(self) -> None:
        if self._floor is None:
            self._floor = gc.get_threshold()[0]
        self._open += 1
        self._apply()

    def closed(self) -> None:
        self._open = max(0, self._open - 1)
        self._apply()

    def _apply(self) -> None:
        floor = self._floor
        if not floor:
            return  # not started, or the process turned collections off with a threshold of 0
        wanted = max(floor, min(LIMIT, PER_STREAM * self._open))
        current, middle, oldest = gc.get_threshold()
        if wanted != current:
            gc.set_threshold(wanted, middle, oldest)


STREAMS = CollectorFit()
"""The process's one fit: every server of the process counts its streams in it."""


__all__ = ["LIMIT", "PER_STREAM", "STREAMS", "CollectorFit"]
