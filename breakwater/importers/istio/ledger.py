"""What became of every field of the input: converted, or left out with a reason.

The converter marks each field it carries over (`took`) and each it cannot
(`left`, with why and what to do instead). Whatever is marked neither is
found by walking the raw document, so a field the importer has never heard
of is listed too: nothing is dropped without a line in the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from breakwater.translators.documents import RawDocument, YamlPath, dotted

UNKNOWN_FIELD = "the importer does not know this field, so nothing was made of it"
UNKNOWN_INSTEAD = (
    "check Istio's meaning and write the Breakwater equivalent by hand, if there is one"
)


@dataclass(frozen=True)
class Leftover:
    """One field not carried over: where it was, why, and what the user can do instead."""

    file: str
    line: int
    document: str
    field: str
    reason: str
    instead: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.document}: {self.field}: {self.reason}; {self.instead}"
        )


@dataclass(frozen=True)
class Note:
    """Something the importer assumed or wrote that the user should look at."""

    document: str
    message: str

    def __str__(self) -> str:
        return f"{self.document}: {self.message}"


@dataclass
class Ledger:
    """The fields of one input document: those carried over, and those left with a reason."""

    raw: RawDocument
    document: str
    """How the report names the document: `VirtualService/app-virtual-service`."""
    taken: set[YamlPath] = field(default_factory=set)
    leftovers: list[Leftover] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    _left: set[YamlPath] = field(default_factory=set)

    def took(self, *path: str | int) -> None:
        """`path` and everything under it became part of the output."""
        self.taken.add(tuple(path))

    def left(self, path: YamlPath, reason: str, instead: str) -> None:
        """`path` and everything under it did not: say why, and what to do instead."""
        if path in self._left:
            return
        self._left.add(path)
        self.leftovers.append(
            Leftover(
                self.raw.file,
                self.raw.line_of(path),
                self.document,
                dotted(path),
                reason,
                instead,
            )
        )

    def note(self, message: str) -> None:
        self.notes.append(Note(self.document, message))

    def present(self, *path: str | int) -> bool:
        """Whether the input has a node at `path` (a field left out is not walked)."""
        return self.raw.has(tuple(path))

    def close(self) -> None:
        """List every leaf of the input that was neither carried over nor left with a reason."""
        for path in _leaves(self.raw.data, ()):
            if not self._covered(path):
                self.left(path, UNKNOWN_FIELD, UNKNOWN_INSTEAD)

    def _covered(self, path: YamlPath) -> bool:
        marked = self.taken | self._left
        return any(path[:end] in marked for end in range(len(path) + 1))


def _leaves(node: Any, path: YamlPath) -> Iterator[YamlPath]:
    """Every scalar's path, and the path of every empty mapping or list (they carry meaning too)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path


__all__ = ["Ledger", "Leftover", "Note"]
