"""What `/v1/policies` lists per document: where it is, whether it is valid, and its errors.

A pure function of what the pipeline read, apart from the controller that keeps
the result, so that it can be checked without a policy directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from breakwater.translators.kinds import kind_of
from breakwater.translators.pipeline import LoadedPolicies


@dataclass(frozen=True)
class DocumentStatus:
    kind: str
    name: str
    file: str
    line: int
    valid: bool
    errors: list[str]


def document_statuses(loaded: LoadedPolicies) -> list[DocumentStatus]:
    """One status per document, valid or not; a document too broken to decode is listed by its errors."""
    by_doc: dict[tuple[str, str], list[str]] = {}
    for error in loaded.errors:
        if error.kind is not None and error.name is not None:
            by_doc.setdefault((error.kind, error.name), []).append(str(error))
    documents = [
        DocumentStatus(
            kind=kind_of(doc),
            name=doc.name,
            file=raw.file,
            line=raw.line,
            valid=(kind_of(doc), doc.name) not in by_doc,
            errors=by_doc.get((kind_of(doc), doc.name), []),
        )
        for doc, raw in loaded.documents
    ]
    seen = {(d.kind, d.name) for d in documents}
    for error in loaded.errors:
        key = (error.kind or "", error.name or "")
        if error.kind is not None and key not in seen:
            seen.add(key)
            documents.append(
                DocumentStatus(
                    error.kind,
                    error.name or "?",
                    error.file,
                    error.line,
                    False,
                    by_doc.get(key, []),
                )
            )
    return documents
