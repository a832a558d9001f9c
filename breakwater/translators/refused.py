"""Documents with errors of their own: left out of the checks across documents, not forgotten.

A document that fails its own model is not in the PolicySet, but the
checks across documents still run over every other document, so that one
run of `validate` reports every mistake it can. Two things would then go
wrong without this record: a reference to the broken document would be
reported as "not declared" (a false second error: the document is
declared, it has errors of its own), and a merged policy would be checked
without a layer that, once fixed, may change it. So references to these
names are not reported, and the merged checks that such a document may
change are left for the run after it is fixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from breakwater.translators.decode import written_name
from breakwater.translators.documents import RawDocument
from breakwater.translators.errors import PolicyError
from breakwater.translators.model import TargetRef
from breakwater.translators.telemetry_model import TelemetryTargetRef

ROUTE_KINDS = {"GRPCRoute": "HTTPRoute"}
"""Written kinds that are another kind inside Breakwater: both route kinds become HTTPRoutes."""

EVERYTHING = None
"""A target that stands for every service or gateway: none given, or one that cannot be read."""


@dataclass(frozen=True)
class Refused:
    """Which documents have errors of their own, and what merged results they may change."""

    names: frozenset[tuple[str, str]] = frozenset()
    """(kind inside Breakwater, name) of each."""
    targets: frozenset[tuple[str, str | None]] = frozenset()
    """(kind, targeted name or EVERYTHING) of each broken ResiliencePolicy and Telemetry."""

    @classmethod
    def of(cls, raws: Iterable[RawDocument], errors: Iterable[PolicyError]) -> Refused:
        """From the documents refused by their own model and the errors of those refused
        later, while converted from the Gateway API (their errors carry kind and name)."""
        names: set[tuple[str, str]] = set()
        targets: set[tuple[str, str | None]] = set()
        for raw in raws:
            data = raw.data if isinstance(raw.data, dict) else {}
            kind, name = data.get("kind"), _name(data)
            if not isinstance(kind, str):
                continue
            if name is not None:
                names.add((ROUTE_KINDS.get(kind, kind), name))
            if kind in _TARGET_MODELS:
                targets.add((kind, _target(kind, data)))
        for error in errors:
            if error.kind is not None and error.name is not None:
                names.add((ROUTE_KINDS.get(error.kind, error.kind), error.name))
        return cls(frozenset(names), frozenset(targets))

    def has(self, kind: str, name: str) -> bool:
        """Whether the `kind` called `name` has errors of its own (a reference to it is no error)."""
        return (kind, name) in self.names

    def may_change(self, kind: str, target: str | None) -> bool:
        """Whether a broken `kind` (ResiliencePolicy, Telemetry) may, once fixed, change what
        is merged for `target` (a service or gateway; EVERYTHING for the fleet-wide layer)."""
        return (kind, EVERYTHING) in self.targets or (
            target is not None and (kind, target) in self.targets
        )


@dataclass(frozen=True)
class _Targets:
    model: type[BaseModel]
    kinds: frozenset[str] = field(default_factory=frozenset)
    """The targeted kinds that count; others (a Telemetry for a route) change no merged check."""


_TARGET_MODELS = {
    "ResiliencePolicy": _Targets(TargetRef),
    "Telemetry": _Targets(TelemetryTargetRef, frozenset({"Gateway"})),
}


def _name(data: dict[str, Any]) -> str | None:
    return written_name(data, data.get("apiVersion"))


def _target(kind: str, data: dict[str, Any]) -> str | None:
    """The name a broken document targets, read with the very model of its targetRef."""
    spec = data.get("spec")
    if not isinstance(spec, dict) or "targetRef" not in spec:
        return EVERYTHING
    targets = _TARGET_MODELS[kind]
    try:
        ref = targets.model.model_validate(spec["targetRef"])
    except ValidationError:
        return EVERYTHING
    if targets.kinds and getattr(ref, "kind", None) not in targets.kinds:
        return f"{getattr(ref, 'kind', '')}/{getattr(ref, 'name', '')}"  # changes no gateway
    name = getattr(ref, "name", None)
    return name if isinstance(name, str) else EVERYTHING


NOTHING = Refused()
"""No document refused: the checks of a set read without errors."""

__all__ = ["NOTHING", "Refused"]
