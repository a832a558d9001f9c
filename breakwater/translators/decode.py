"""A YAML document → a typed policy document, or located errors that say what is allowed.

Pydantic reports field paths and terse messages; this turns them into
sentences at the line the user wrote: an unknown field with the closest
allowed name, a missing field, a value outside a fixed set with the set.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from breakwater.translators.documents import RawDocument, YamlPath, dotted
from breakwater.translators.errors import PolicyError
from breakwater.translators.kinds import KINDS
from breakwater.translators.model import API_VERSION, Document


def _model_at(model: type[BaseModel], loc: YamlPath) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc`, to suggest field names for a typo."""
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


def _allowed_fields(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _describe(model_cls: type[Document], error: Any, loc: YamlPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        owner = _model_at(model_cls, loc[:-1])
        allowed = _allowed_fields(owner) if owner is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" Allowed here: {', '.join(allowed)}." if allowed else ""
        return f"unknown field {loc[-1]!r}{hint}{listing}"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{error['input']!r} is not allowed; use one of {expected}"
    message: str = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def validate_document(raw: RawDocument) -> tuple[Document | None, list[PolicyError]]:
    """The document as its kind's model, or every mistake in it (pydantic reports them all at once).

    apiVersion and kind are checked first and alone: without them there is
    no model to validate against, and a list of field errors from the wrong
    model would only mislead.
    """
    data = raw.data
    if not isinstance(data, dict):
        return None, [
            PolicyError(
                raw.file,
                raw.line,
                "a document must be a mapping with apiVersion, kind, metadata, spec",
            )
        ]
    kind = data.get("kind")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    name_text = name if isinstance(name, str) else None
    if data.get("apiVersion") != API_VERSION:
        return None, [
            PolicyError(
                raw.file,
                raw.line_of(("apiVersion",)),
                f"apiVersion {data.get('apiVersion')!r} is not supported; use {API_VERSION}",
                kind=kind if isinstance(kind, str) else None,
                name=name_text,
                field="apiVersion",
            )
        ]
    if not isinstance(kind, str) or kind not in KINDS:
        return None, [
            PolicyError(
                raw.file,
                raw.line_of(("kind",)),
                f"kind {kind!r} is not known; use one of {', '.join(KINDS)}",
                field="kind",
            )
        ]
    model_cls = KINDS[kind]
    try:
        return model_cls.model_validate(data), []
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, int | str))
            errors.append(
                PolicyError(
                    raw.file,
                    raw.line_of(loc),
                    _describe(model_cls, error, loc),
                    kind=kind,
                    name=name_text,
                    field=dotted(loc) or None,
                )
            )
        return None, errors


__all__ = ["validate_document"]
