"""Nodes resolved before, found again by the identity of the documents they were read from.

The policy reader hands back the very same document objects for unchanged
files and the merge memo the very same effective policies for unchanged
layers, so a cluster, an endpoint set or a rule whose sources are the same
objects resolves to the same node: it is not resolved again, and the build
cache finds its piece at once (a node is equal to itself before anything is
compared). Each key is written beside the reads it covers, in the function
that resolves the node; `tests/controlplane/test_incremental.py` checks a
warm memo against a fresh one after every random edit.

Each build starts a generation: what the last one did not use is forgotten.
An entry holds its sources, so an identity in its key can never be taken
over by another object while it lives.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

N = TypeVar("N")


class Memo:
    def __init__(self) -> None:
        self._earlier: dict[Hashable, tuple[tuple[object, ...], object]] = {}
        self._now: dict[Hashable, tuple[tuple[object, ...], object]] = {}

    def next_generation(self) -> None:
        if self._now:
            self._earlier, self._now = self._now, {}

    def get(self, key: Hashable, sources: tuple[object, ...], make: Callable[[], N]) -> N:
        """The node of `key` (ids of `sources` and plain values), made once."""
        found = self._now.get(key)
        if found is None:
            found = self._earlier.get(key)
            if found is None:
                found = (sources, make())
            self._now[key] = found
        return found[1]  # type: ignore[return-value]
