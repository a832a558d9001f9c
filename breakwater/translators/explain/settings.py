"""The pieces of `explain`: a field's meaning, a setting as it is shown, a section of them.

Shared by the answers for a service (`service`), a gateway (`gateway`) and a
service's proxyless gRPC clients (`proxyless`), each with its own meanings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, get_args

from pydantic import BaseModel

from breakwater.translators.durations import format_duration
from breakwater.translators.explain.meanings import Meanings
from breakwater.translators.model import ResilienceSpec
from breakwater.translators.policyset import Effective, FieldPath, Provenance


def _fields(model: type[BaseModel], prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Every field path under `model`, each before the fields inside it, in declaration order."""
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        yield path
        for inner in (info.annotation, *get_args(info.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _fields(inner, path)
                break


def _collect(*slices: Meanings, model: type[BaseModel] = ResilienceSpec) -> Meanings:
    """The slices' meanings in the order the model declares the fields, which is how users read them.

    A meaning for a field the model does not have, or a field claimed by two
    slices, is a mistake in the code, found as soon as the module is imported.
    """
    merged: Meanings = {}
    for meanings in slices:
        for path, meaning in meanings.items():
            if path in merged:
                raise ValueError(f"{'.'.join(path)} is explained twice")
            merged[path] = meaning
    order = list(_fields(model))
    unknown = [".".join(path) for path in merged if path not in order]
    if unknown:
        raise ValueError(f"explained fields that {model.__name__} does not have: {unknown}")
    return {path: merged[path] for path in order if path in merged}


@dataclass(frozen=True)
class ExplainedSetting:
    path: str
    value: Any
    set_by: str
    envoy: str
    differs: str


def _camel(path: FieldPath) -> str:
    def one(part: str) -> str:
        head, *rest = part.split("_")
        return head + "".join(p.title() for p in rest)

    return ".".join(one(p) for p in path)


def _value_at(model: BaseModel, path: FieldPath) -> Any:
    current: Any = model
    for part in path:
        current = getattr(current, part, None)
    return current


def _display(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [_display(item) for item in value]
    return value


def _setters(provenance: Provenance, path: FieldPath) -> str | None:
    """Who set a field; for a map (fallback headers), whoever set any of its entries."""
    found = provenance.get(path)
    if found is not None:
        return found
    below = sorted({who for field, who in provenance.items() if field[: len(path)] == path})
    return ", ".join(below) or None


def _explained(
    meanings: Meanings, model: BaseModel, set_by_of: Callable[[FieldPath], str | None]
) -> list[ExplainedSetting]:
    """The fields of `model` that have a meaning and were set (or default along with a set one).

    An empty list or map counts as not set: `requestHeaders.add: []` changes nothing.
    """
    settings: list[ExplainedSetting] = []
    for path, meaning in meanings.items():
        section = getattr(model, path[0])
        if section is None:
            continue
        value = _value_at(model, path)
        set_by = set_by_of(path)
        if set_by is None:
            if value is None or value == [] or value == {}:
                continue
            set_by = "Breakwater default"
        settings.append(
            ExplainedSetting(
                path=_camel(path),
                value=_display(value),
                set_by=set_by,
                envoy=meaning.envoy,
                differs=meaning.differs,
            )
        )
    return settings


@dataclass(frozen=True)
class ExplainSection:
    title: str
    settings: list[ExplainedSetting]


def explain_with(meanings: Meanings, effective: Effective) -> list[ExplainedSetting]:
    """`explain_effective` with other meanings (what another client makes of the fields)."""
    return _explained(meanings, effective.spec, lambda path: _setters(effective.provenance, path))
