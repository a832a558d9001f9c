"""Equal parts of the policy documents held once: one object for 10 000 equal retries.

A mesh's documents repeat themselves: at 10 000 services every
ResiliencePolicy carries the same circuit breaker, bulkhead, retry and
health check, every Service the same two subsets, every route the same
match and sticky header, every merged policy the same spec, and a Service,
its policy and its route the same metadata. Each such part is a pydantic
model (the object, its `__dict__` and the set of the fields given: about
570 bytes before its values), so equal parts held apart were most of the
documents' memory.

A part (`model_parts.Part`) is validated through `held_once`: data equal
to data a part was validated from before (same types, same values, same
keys in the same order) gives that very part, without validating again.
Validation is a function of the data (what a validation context allows is
not: parts validated under one are not shared), and parts are never changed
afterwards (the models are frozen; `model_copy` copies), so one part may
serve any number of documents. Documents are never shared: the reader, the
route-edit check and the translators' caches tell an unchanged document by
identity (`documents.other_positions`), and two documents must never become
one. What is keyed by a part's identity (the merge memo, the IR's nodes)
depends on its value alone, so sharing only lets it find more of what it
holds already.

At most `PARTS_HELD` parts are remembered; past that the table starts
afresh (the parts already shared stay shared), so parts of documents long
gone are not kept (`same_value` holds other equal immutable values, the field paths of
merged policies, and `same_value_dict` endpoints' equal labels, the same way). Every
other model shares the set of its given fields
with the models that gave the same fields (`fields_given_once`): pydantic
keeps one set per model, and only reads it once validation is done.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", bound=Hashable)

PARTS_HELD = 1 << 12
"""Parts remembered at most (about a MiB of keys). A mesh has few distinct settings, and
what documents read together share is found together (a Service, its policy and its route
have the same metadata, written one after the other); each fresh start costs one more copy
of each setting."""

_ATOMS = frozenset({str, int, bool, type(None), timedelta})
"""Immutable values keyed as they are (beside their types: 1, 1.0 and True are equal)."""

_parts: dict[Hashable, BaseModel] = {}
_values: dict[Hashable, Hashable] = {}
_dicts: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
_fields_given: dict[frozenset[str], set[str]] = {}
"""One set per distinct set of given fields; only ever added to (there are few)."""


class _Unkeyed(Exception):
    """The data holds something other than plain values: validated, not shared."""


def _key(value: object) -> Hashable:
    """Equal keys for data that validates to equal parts."""
    kind = type(value)
    if kind in _ATOMS:
        return value  # type: ignore[return-value]
    if isinstance(value, float):
        return value.hex() if value == 0 else value  # -0.0 == 0.0, not to Envoy
    if isinstance(value, list | tuple):
        return (kind, tuple(map(type, value)), tuple(map(_key, value)))
    if isinstance(value, dict):
        return (
            dict,
            tuple(value),
            tuple(map(type, value.values())),
            tuple(map(_key, value.values())),
        )
    raise _Unkeyed


def fields_given_once(model: M) -> M:
    """`model` with the set of its given fields shared with every model that gave the same."""
    given = model.__pydantic_fields_set__
    found = _fields_given.setdefault(frozenset(given), given)
    if found is not given:
        object.__setattr__(model, "__pydantic_fields_set__", found)
    return model


def held_once(kind: type[M], data: Any, validate: Callable[[Any], M]) -> M:
    """`validate(data)`, or the `kind` validated from equal data before."""
    try:
        key = (kind, _key(data))
    except _Unkeyed:
        return fields_given_once(validate(data))
    found = _parts.get(key)
    if found is None:
        found = fields_given_once(validate(data))
        if len(_parts) >= PARTS_HELD:
            _parts.clear()
        _parts[key] = found
    return found  # type: ignore[return-value]


def same_value(value: H) -> H:
    """The value equal to `value` held already, or `value` (then held for the next): the
    field paths of 10 000 merged policies' provenance are the same few dozen tuples."""
    found = _values.get(value)
    if found is None:
        if len(_values) >= PARTS_HELD:
            _values.clear()
        _values[value] = found = value
    return found  # type: ignore[return-value]


def same_value_dict(value: dict[str, str]) -> dict[str, str]:
    """The dict of strings equal to `value` held already, or `value` (then held): labels that
    thousands of endpoints repeat. Like a part, it is never changed after validation."""
    key = tuple(value.items())
    found = _dicts.get(key)
    if found is None:
        if len(_dicts) >= PARTS_HELD:
            _dicts.clear()
        _dicts[key] = found = value
    return found


__all__ = ["PARTS_HELD", "fields_given_once", "held_once", "same_value", "same_value_dict"]
