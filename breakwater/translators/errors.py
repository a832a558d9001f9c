"""A mistake in the policy files, located: what every reader and checker reports.

It lives on its own so that the YAML reader, the document decoder, the
cross-document checks and the policy sources can all produce it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyError:
    """One mistake, located: `file:line: kind/name: field: what is wrong and what is allowed`."""

    file: str
    line: int
    message: str
    kind: str | None = None
    name: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}"]
        if self.kind is not None:
            parts.append(f"{self.kind}/{self.name or '?'}")
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


__all__ = ["PolicyError"]
