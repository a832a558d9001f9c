"""A YAML document → a typed policy document, or located errors that say what is allowed.

Pydantic reports field paths and terse messages; each becomes a sentence
(`error_sentences`) at the line the user wrote.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from breakwater.translators.documents import RawDocument, dotted
from breakwater.translators.error_sentences import sentences
from breakwater.translators.errors import PolicyError
from breakwater.translators.gateway_api.model import (
    DEFAULT_NAMESPACE,
    GROUP,
    GatewayApiDocument,
)
from breakwater.translators.kinds import DOCUMENT_KINDS, AnyDocument
from breakwater.translators.model import API_VERSION, Document

GATEWAY_API_PREFIX = GROUP + "/"


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
        return None, [
            PolicyError(
                raw.file,
                raw.line_of(loc),
                message,
                kind=kind,
                name=name_text,
                field=dotted(loc) or None,
            )
            for loc, message in sentences(model_cls, exc, data)
        ]
    assert isinstance(document, Document | GatewayApiDocument)
    return document, []


__all__ = ["validate_document", "written_name"]
