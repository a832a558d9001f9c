"""Pydantic's errors as sentences: the field, the value given, and what is allowed.

Pydantic words its errors for programmers ("Input should be greater than or
equal to 1"); a policy author needs "attempts is 0; use a whole number of 1
or more". Every error type a policy document can raise is worded here, once,
for the decoder, the Gateway API conversion and the merged-policy checks
alike. A value the model's own validators refuse already comes as a
sentence of Breakwater's, and is kept as written.

A union (`rule: int | Name`) makes pydantic report one error per member, each
under a tag (`int`, `function-after[...]`) in its location; those are told
as one error on the field, saying every form that is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from breakwater.translators.documents import YamlPath
from breakwater.translators.durations import format_duration

Error = Mapping[str, Any]
"""One entry of `ValidationError.errors()`."""

SHOWN_LENGTH = 40
"""A longer value is cut in the sentence: the line number already points at all of it."""


def shown(value: Any) -> str:
    """A value as the user wrote it in YAML, short."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, dict):
        return "a mapping"
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 4] + "…" + text[-3:]


def _number(error: Error) -> str:
    """A whole number for an int field; pydantic's input tells which (a float fails as such)."""
    value = error.get("input")
    return (
        "a whole number" if isinstance(value, int) and not isinstance(value, bool) else "a number"
    )


def _bound(error: Error, key: str) -> str:
    value = error.get("ctx", {}).get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a float field's bound of 0 reads as 0, not 0.0
    return shown(value)


def _items(error: Error) -> str:
    return "entries" if isinstance(error.get("input"), dict) else "items"


def _plural(count: str, noun: str) -> str:
    return f"{count} {noun}" if count == "1" else f"{count} {noun}s"


def _pattern(error: Error) -> str:
    pattern = str(error.get("ctx", {}).get("pattern", ""))
    if pattern.startswith("^/"):
        return "a path starting with '/'"
    return f"text matching {pattern}"


ALLOWED: dict[str, Callable[[Error], str]] = {
    "greater_than_equal": lambda e: f"{_number(e)} of {_bound(e, 'ge')} or more",
    "greater_than": lambda e: f"a number above {_bound(e, 'gt')}",
    "less_than_equal": lambda e: f"{_number(e)} of {_bound(e, 'le')} or less",
    "less_than": lambda e: f"a number below {_bound(e, 'lt')}",
    "multiple_of": lambda e: f"a multiple of {_bound(e, 'multiple_of')}",
    "finite_number": lambda _: "a finite number",
    "int_type": lambda _: "a whole number",
    "int_parsing": lambda _: "a whole number",
    "int_parsing_size": lambda _: "a whole number of reasonable size",
    "int_from_float": lambda _: "a whole number",
    "float_type": lambda _: "a number",
    "float_parsing": lambda _: "a number",
    "string_type": lambda _: "text (quote it if it looks like a number or true/false)",
    "string_too_short": lambda e: f"at least {_plural(_bound(e, 'min_length'), 'character')}",
    "string_too_long": lambda e: f"at most {_plural(_bound(e, 'max_length'), 'character')}",
    "string_pattern_mismatch": _pattern,
    "bool_type": lambda _: "true or false",
    "bool_parsing": lambda _: "true or false",
    "literal_error": lambda e: f"one of {e.get('ctx', {}).get('expected', '')}",
    "enum": lambda e: f"one of {e.get('ctx', {}).get('expected', '')}",
    "too_short": lambda e: f"at least {_bound(e, 'min_length')}",
    "too_long": lambda e: f"at most {_bound(e, 'max_length')}",
    "list_type": lambda _: "a list",
    "tuple_type": lambda _: "a list",
    "set_type": lambda _: "a list",
    "dict_type": lambda _: "a mapping (key: value)",
    "mapping_type": lambda _: "a mapping (key: value)",
    "model_type": lambda _: "a mapping",
    "model_attributes_type": lambda _: "a mapping",
    "none_required": lambda _: "nothing (leave it out)",
    "timedelta_type": lambda _: "a duration such as 250ms, 5s or 1m",
    "timedelta_parsing": lambda _: "a duration such as 250ms, 5s or 1m",
}
"""What each error type allows, as the end of "use …"."""

OWN_WORDS = ("value_error", "assertion_error")
"""Raised by the models' own validators, whose message is already Breakwater's sentence."""


def owner(model: type[BaseModel], loc: YamlPath) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc`, to name its fields."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        if part not in fields:
            return None
        current = _unwrap(fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Find the model inside `X | None`, `list[X]` and `dict[str, X]`."""
    args = getattr(annotation, "__args__", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in args or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def fields_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _name(loc: YamlPath) -> str:
    """The field's own name: its last key, with the index of a list item."""
    for index in range(len(loc) - 1, -1, -1):
        if isinstance(loc[index], str):
            tail = "".join(f"[{p}]" for p in loc[index + 1 :])
            return f"{loc[index]}{tail}"
    return "the document"


def sentence(model: type[BaseModel], error: Error, loc: YamlPath) -> str:
    """One error at `loc` (union tags removed) as a sentence that says what is allowed."""
    kind = error["type"]
    name = _name(loc)
    if kind == "extra_forbidden":
        found = owner(model, loc[:-1])
        allowed = fields_of(found) if found is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" Allowed here: {', '.join(allowed)}." if allowed else ""
        return f"unknown field {loc[-1]!r}{hint}{listing}"
    if kind == "missing":
        return f"{name} is required; add it"
    if kind in OWN_WORDS:
        message = str(error["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        return message
    return f"{name} {_given(error)}; use {_allowed(model, error, loc)}"


def _given(error: Error) -> str:
    """What was given: `is 0`, or for a list or mapping of the wrong length, `has 0 items`."""
    value = error.get("input")
    if error["type"] in ("too_short", "too_long") and isinstance(value, list | dict):
        return f"has {len(value)} {_items(error)}"
    return f"is {shown(value)}"


def _allowed(model: type[BaseModel], error: Error, loc: YamlPath) -> str:
    kind = error["type"]
    allowed = ALLOWED.get(kind)
    if allowed is None:  # a type no policy field raises today: still no stock phrase
        return "a value of the documented form (see the policy reference)"
    text = allowed(error)
    if kind in ("model_type", "model_attributes_type"):
        found = owner(model, loc)
        if found is not None:
            text += f" with the fields {', '.join(fields_of(found))}"
    return text


def located(errors: Sequence[Error], data: Any) -> dict[YamlPath, list[Error]]:
    """Pydantic's errors grouped by the field they are about, union tags removed from
    their locations. One field has more than one error only when a union reported
    each of its members."""
    groups: dict[YamlPath, list[Error]] = {}
    for error in errors:
        groups.setdefault(_without_tags(error["loc"], data), []).append(error)
    return groups


def _without_tags(loc: Sequence[Any], data: Any) -> YamlPath:
    """`loc` with the union members' tags left out, found by walking the data written:
    a key the data does not have, before the end of `loc`, is a tag."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(part, int):
            path.append(part)
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        elif isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and last:
            path.append(part)  # a missing or unknown field
        elif (isinstance(node, dict) or node is None) and not _looks_like_tag(part):
            path.append(part)
            node = None
        # otherwise (under a scalar or a list, or named like one) a union member's tag
    return tuple(path)


def _looks_like_tag(part: str) -> bool:
    return "[" in part or part[:1].isupper() or part in ("int", "str", "float", "bool", "none")


def describe(model: type[BaseModel], group: Sequence[Error], loc: YamlPath) -> str:
    """One field's errors as one sentence: a union's members' forms joined with "or",
    unless one member's own validator refused the value (then its words say why)."""
    if len(group) == 1:
        return sentence(model, group[0], loc)
    for error in group:
        if error["type"] in OWN_WORDS:
            return sentence(model, error, loc)
    forms = []
    for error in group:
        form = _allowed(model, error, loc)
        if form not in forms:
            forms.append(form)
    return f"{_name(loc)} {_given(group[0])}; use {' or '.join(forms)}"


def sentences(
    model: type[BaseModel], exc: ValidationError, data: Any
) -> list[tuple[YamlPath, str]]:
    """Every error of `exc`, raised validating `data` as `model`: (the field, its sentence)."""
    return [
        (loc, describe(model, group, loc)) for loc, group in located(exc.errors(), data).items()
    ]


__all__ = ["describe", "fields_of", "located", "owner", "sentence", "sentences", "shown"]
