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


_Earlier = dict[tuple[int, int], tuple[object, object, DocumentStatus]]
"""(id of the document, id of where it was read) → both, and the status of a valid one."""


class DocumentStatuses:
    """`document_statuses` again and again: a valid document read from the same place as
    before (the reader hands back the very same objects) keeps its status object, so a
    reload of a large directory does not make 30 000 of them anew."""

    def __init__(self) -> None:
        self._valid: _Earlier = {}

    def __call__(self, loaded: LoadedPolicies) -> list[DocumentStatus]:
        kept: _Earlier = {}
        statuses = document_statuses(loaded, self._valid, kept)
        self._valid = kept
        return statuses


def document_statuses(
    loaded: LoadedPolicies, earlier: _Earlier | None = None, kept: _Earlier | None = None
) -> list[DocumentStatus]:
    """One status per document, valid or not; a document too broken to decode is listed by its errors.

    `earlier`: the statuses of valid documents a read before made (`DocumentStatuses`);
    `kept` receives this read's."""
    by_doc: dict[tuple[str, str], list[str]] = {}
    for error in loaded.errors:
        if error.kind is not None and error.name is not None:
            by_doc.setdefault((error.kind, error.name), []).append(str(error))
    documents: list[DocumentStatus] = []
    for doc, raw in loaded.documents:
        ids = (id(doc), id(raw))
        found = None if earlier is None or by_doc else earlier.get(ids)
        if found is not None:
            status = found[2]
        else:
            kind = kind_of(doc)
            errors = by_doc.get((kind, doc.name), [])
            status = DocumentStatus(kind, doc.name, raw.file, raw.line, not errors, errors)
        if kept is not None and status.valid:
            kept[ids] = (doc, raw, status)
        documents.append(status)
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
