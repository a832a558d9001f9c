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
from breakwater.translators.gateway_api.model import (
    DEFAULT_NAMESPACE,
    GROUP,
    GatewayApiDocument,
)
from breakwater.translators.kinds import DOCUMENT_KINDS, AnyDocument
from breakwater.translators.model import API_VERSION, Document

GATEWAY_API_PREFIX = GROUP + "/"


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


def describe_error(model_cls: type[BaseModel], error: Any, loc: YamlPath) -> str:
    """One pydantic error as a sentence that says what is allowed."""
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


def written_name(data: dict[str, Any], api_version: Any) -> str | None:
    """The name errors give the document: Gateway API objects go by `<namespace>.<name>`."""
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str):
        return None
    if isinstance(api_version, str) and api_version.startswith(GATEWAY_API_PREFIX):
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        return f"{namespace if isinstance(namespace, str) else DEFAULT_NAMESPACE}.{name}"
    return name


def validate_document(raw: RawDocument) -> tuple[AnyDocument | None, list[PolicyError]]:
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
    api_version = data.get("apiVersion")
    name_text = written_name(data, api_version)
    versions = sorted({version for version, _ in DOCUMENT_KINDS})
    if api_version not in versions:
        return None, [
            PolicyError(
                raw.file,
                raw.line_of(("apiVersion",)),
                f"apiVersion {api_version!r} is not supported; use {API_VERSION} (Breakwater's "
                f"kinds) or one of {', '.join(v for v in versions if v != API_VERSION)} (the "
                "Gateway API's)",
                kind=kind if isinstance(kind, str) else None,
                name=name_text,
                field="apiVersion",
            )
        ]
    model_cls = DOCUMENT_KINDS.get((api_version, kind)) if isinstance(kind, str) else None
    if model_cls is None:
        known = [k for version, k in DOCUMENT_KINDS if version == api_version]
        return None, [
            PolicyError(
                raw.file,
                raw.line_of(("kind",)),
                f"kind {kind!r} is not known in {api_version}; use one of {', '.join(known)}",
                field="kind",
            )
        ]
    try:
        document = model_cls.model_validate(data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, int | str))
            errors.append(
                PolicyError(
                    raw.file,
                    raw.line_of(loc),
                    describe_error(model_cls, error, loc),
                    kind=kind,
                    name=name_text,
                    field=dotted(loc) or None,
                )
            )
        return None, errors
    assert isinstance(document, Document | GatewayApiDocument)
    return document, []


__all__ = ["describe_error", "validate_document", "written_name"]
