"""The cyclic garbage collector's youngest generation, sized to the streams a process serves.

A push wakes every stream of a group, and each leaves a handful of new container
objects parked until the next push or ACK: the future it waits on, gRPC's pending
read and its coroutines. CPython collects its youngest generation every 700 net
allocations, so a push to 10 000 streams ran about a hundred young collections, a
dozen middle ones and, with 200 000 parked objects promoted at once, a full collection
of the whole heap (800 000 objects) on every push: a third of the push's CPU,
measured with the collector's own callbacks. With the threshold at
``PER_STREAM`` allocations per stream the same push runs about one young
collection, and the parked objects die young instead of being promoted.

The threshold only grows above the process's own (read when the first stream opens,
so a server that set its own keeps it as the floor) and falls back with the streams.
Unreachable cycles still go at the next young collection: with the threshold at its
largest that is ``PER_STREAM`` objects per stream later, a few megabytes at most.
"""

from __future__ import annotations

import gc

PER_STREAM = 8
"""Young allocations allowed per open stream before a collection (a push makes ~8 net)."""
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
