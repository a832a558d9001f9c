"""What the policy pipeline passes along: file texts in, YAML documents with the line of every node.

A document keeps the line of each of its nodes because pydantic knows only
field paths; with these lines an error can point at what the user wrote.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

YamlPath = tuple[str | int, ...]
"""Keys and list indexes from a document's root to one of its nodes."""


@dataclass(frozen=True)
class SourceText:
    """The text of one policy file, and the path that errors about it show."""

    path: str
    text: str


@dataclass(frozen=True)
class Origin:
    """What a document converted from another dialect (the Gateway API) was as written.

    Errors about the converted document name the kind and the fields the
    user wrote, not Breakwater's: `paths` maps each converted field to the
    field it came from.
    """

    kind: str
    paths: dict[YamlPath, YamlPath] = field(default_factory=dict)

    def source_path(self, path: YamlPath) -> YamlPath:
        """The written field of the deepest converted field on `path` that has one."""
        for end in range(len(path), -1, -1):
            found = self.paths.get(path[:end])
            if found is not None:
                return found
        return path


@dataclass
class RawDocument:
    """A YAML document before validation, with the line of each of its nodes."""

    file: str
    line: int
    data: Any
    lines: dict[YamlPath, int] = field(default_factory=dict)
    """The line of each node as written. A node that an alias repeats is listed where it
    was first written and where each alias stands, never again for what lies under it:
    aliases can make a small text stand for a million nodes."""
    origin: Origin | None = None
    """Set on a document converted from another dialect; None for one read as written."""
    aliases: dict[YamlPath, YamlPath] = field(default_factory=dict)
    """Where an alias stands → the path of the node it repeats, to find lines under it."""
    nodes: int = 0
    """How many nodes the document holds once its aliases are expanded."""

    def kind_of(self, written: str) -> str:
        """The kind to name in errors: the one the user wrote."""
        return self.origin.kind if self.origin is not None else written

    def field_of(self, path: YamlPath) -> str:
        """A field as the user wrote it, for errors: `spec.rules[0].backendRefs[1].weight`."""
        return dotted(self.origin.source_path(path) if self.origin is not None else path)

    def line_of(self, path: YamlPath) -> int:
        """The line of the deepest node on `path` that exists in the file; under an alias,
        the line of the node it repeats, as written."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if end < len(path) and prefix in self.aliases:
                return self.line_of(self.aliases[prefix] + path[end:])
            line = self.lines.get(prefix)
            if line is not None:
                return line
        return self.line

    def has(self, path: YamlPath) -> bool:
        """Whether the document has a node at `path` (through aliases too)."""
        for end in range(len(path), 0, -1):
            if end < len(path) and path[:end] in self.aliases:
                return self.has(self.aliases[path[:end]] + path[end:])
        return path in self.lines


def dotted(path: YamlPath) -> str:
    """A path as users write it: `spec.rules[0].backends[1].weight`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


__all__ = ["Changes", "Origin", "RawDocument", "SourceText", "YamlPath", "dotted"]


def other_positions(now: Sequence[object], before: Sequence[object]) -> Iterator[int]:
    """The positions where two lists of the same length hold other objects (by identity).

    A reread of 30 000 documents in which one file changed hands back the other files'
    entries as the very same objects; this finds the few that differ without a Python-level
    step per entry (the comparison and the filtering run in C)."""
    return compress(range(len(now)), map(operator.is_not, now, before))


@dataclass(frozen=True)
class Changes:
    """Where one read's documents may differ from those of the read before it.

    The reader hands on the very same entries for every file whose text did not change;
    when each file holds as many documents as before, in the same order, the others can
    only differ inside the spans of the files decoded again. Whoever compares with an
    earlier read must check that it is read `since`: only then do the spans apply."""

    read: int
    """This read's number, from the reader's count."""
    since: int
    """The read these spans are relative to (the one just before)."""
    spans: tuple[tuple[int, int], ...] | None
    """(start, stop) of the documents of each file decoded again; None when the files or
    how many documents each holds changed (then any position may differ)."""

    def positions(self, now: Sequence[object], before: Sequence[object]) -> Iterator[int]:
        """`other_positions` of `now` and `before` (that read), looking only in the spans."""
        if self.spans is None:
            yield from other_positions(now, before)
            return
        for start, stop in self.spans:
            for at in other_positions(now[start:stop], before[start:stop]):
                yield start + at
