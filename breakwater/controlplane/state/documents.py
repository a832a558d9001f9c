"""What `/v1/policies` lists per document: where it is, whether it is valid, and its errors.

A pure function of what the pipeline read, apart from the controller that keeps
the result, so that it can be checked without a policy directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from breakwater.translators.documents import RawDocument, other_positions
from breakwater.translators.kinds import AnyDocument, kind_of
from breakwater.translators.pipeline import LoadedPolicies


@dataclass(frozen=True)
class DocumentStatus:
    kind: str
    name: str
    file: str
    line: int
    valid: bool
    errors: list[str]


class DocumentStatuses:
    """`document_statuses` again and again: while nothing has an error, a document read from
    the same place as the last time (the reader hands back the very same objects), at the
    same position, keeps its status object, so a reload of a large directory does not make
    30 000 of them anew. When the reader says where this read can differ from the one
    before (`Changes`) and that one is the kept read, only the documents of the files
    decoded again are compared."""

    def __init__(self) -> None:
        self._documents: list[tuple[object, object]] = []
        """The documents of the last read that had no error (else empty)."""
        self._statuses: list[DocumentStatus] = []
        self._read = -1
        """The reader's number of that read; -1 when not known."""

    def __call__(self, loaded: LoadedPolicies) -> list[DocumentStatus]:
        changes = loaded.changes
        if loaded.errors or len(loaded.documents) != len(self._documents):
            statuses = document_statuses(loaded)
        else:
            statuses = list(self._statuses)
            positions = (
                changes.positions(loaded.documents, self._documents)
                if changes is not None and changes.since == self._read
                else other_positions(loaded.documents, self._documents)
            )
            for at in positions:
                (doc, raw), (before, raw_before) = loaded.documents[at], self._documents[at]
                if doc is not before or raw is not raw_before:
                    statuses[at] = _valid(doc, raw)
        clean = not loaded.errors
        self._documents = list(loaded.documents) if clean else []
        self._statuses = statuses if clean else []
        self._read = changes.read if clean and changes is not None else -1
        return statuses


def _valid(doc: AnyDocument, raw: RawDocument) -> DocumentStatus:
    return DocumentStatus(kind_of(doc), doc.name, raw.file, raw.line, True, [])


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
