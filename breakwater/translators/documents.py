"""What the policy pipeline passes along: file texts in, YAML documents with the line of every node.

A document keeps the line of each of its nodes because pydantic knows only
field paths; with these lines an error can point at what the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

YamlPath = tuple[str | int, ...]
"""Keys and list indexes from a document's root to one of its nodes."""


@dataclass(frozen=True)
class SourceText:
    """The text of one policy file, and the path that errors about it show."""

    path: str
    text: str


@dataclass
class RawDocument:
    """A YAML document before validation, with the line of each of its nodes."""

    file: str
    line: int
    data: Any
    lines: dict[YamlPath, int] = field(default_factory=dict)

    def line_of(self, path: YamlPath) -> int:
        """The line of the deepest node on `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return self.line


def dotted(path: YamlPath) -> str:
    """A path as users write it: `spec.rules[0].backends[1].weight`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


__all__ = ["RawDocument", "SourceText", "YamlPath", "dotted"]
