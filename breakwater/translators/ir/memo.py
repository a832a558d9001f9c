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
from typing import Any, TypeVar

N = TypeVar("N")


class Memo:
    """Nodes by key, one generation per build (`next_generation`)."""

    def __init__(self) -> None:
        self._earlier: dict[Hashable, tuple[object, tuple[Any, ...]]] = {}
        self._now: dict[Hashable, tuple[object, tuple[Any, ...]]] = {}
        self._parts: dict[Hashable, list[Hashable]] = {}
        """Key → the keys asked for while its node was made (only those that asked any)."""
        self._making: list[list[Hashable]] = []

    def next_generation(self) -> None:
        if self._now:
            self._earlier, self._now = self._now, {}
            self._parts = {k: v for k, v in self._parts.items() if k in self._earlier}

    def get(self, key: Hashable, make: Callable[..., N], *sources: Any) -> N:
        """The node `make(*sources)`, made once for `key` (ids of sources and plain values);
        the entry holds the sources. One found in the last generation keeps the entries it
        was made of for the next, as if they had been asked for again."""
        found = self._now.get(key)
        if found is None:
            found = self._earlier.get(key)
            if found is None:
                asked: list[Hashable] = []
                self._making.append(asked)
                try:
                    found = (make(*sources), sources)
                finally:
                    self._making.pop()
                if asked:
                    self._parts[key] = asked
            else:
                self._keep(key)
            self._now[key] = found
        if self._making:
            self._making[-1].append(key)
        return found[0]  # type: ignore[return-value]

    def _keep(self, key: Hashable) -> None:
        for part in self._parts.get(key, ()):
            found = self._earlier.get(part)
            if found is not None and part not in self._now:
                self._now[part] = found
                self._keep(part)


class Once(Memo):
    """For a translation that no build will follow (`render`, `explain`, the tests): every
    node is made, nothing is kept."""

    def get(self, key: Hashable, make: Callable[..., N], *sources: Any) -> N:
        return make(*sources)
