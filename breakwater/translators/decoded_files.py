"""One policy file's text → its documents, each decoded on its own; reusing what did not change.

A file is cut at its `---` lines; after an edit each changed piece is parsed
and decoded on its own, so an edit of one document of a 500-service file
parses one document, not 1 500. What a piece decoded to is kept with the piece's text and the
line it starts on (its errors and lines are the file's own), so the next
read of the file finds every unchanged piece. Whenever cutting might not
give exactly what reading the whole file gives (YAML that does not parse,
or any other complaint of the reader, or a file whose pieces together
expand to more nodes than are left of the directory's budget), the whole file
is read as one, so every error is the one reading the file whole reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from breakwater.translators.decode import validate_document
from breakwater.translators.documents import RawDocument, SourceText
from breakwater.translators.errors import PolicyError
from breakwater.translators.kinds import AnyDocument
from breakwater.translators.yaml_reader import (
    MAX_NODES_PER_DIRECTORY,
    read_documents_counted,
    split_documents,
)

Decoded = list[tuple[AnyDocument, RawDocument]]
PieceKey = tuple[int, str]
"""(index of the piece's first line in the file, the piece's text)."""


@dataclass(frozen=True)
class _Piece:
    errors: list[PolicyError]
    documents: Decoded
    nodes: int
    refused: list[RawDocument] = field(default_factory=list)


@dataclass(frozen=True)
class DecodedFile:
    """One file's text read and each of its documents decoded on its own."""

    text: str
    errors: list[PolicyError]
    documents: Decoded
    pieces: Mapping[PieceKey, _Piece] = field(default_factory=dict)
    """What each piece decoded to; empty when the file was read whole."""
    nodes: int = 0
    """Nodes its documents hold once aliases are expanded: what it took of the budget."""
    budget: int = MAX_NODES_PER_DIRECTORY
    """The budget it was read with; when `nodes` did not fit, its errors say so."""
    refused: list[RawDocument] = field(default_factory=list)
    """The documents that failed their own model (their errors are in `errors`): what they
    name and target keeps the checks across documents from false errors (`refused`)."""

    @property
    def over_budget(self) -> bool:
        """Whether the file went over what was left of the directory's budget."""
        return any(error.message.startswith(BUDGET_ERROR) for error in self.errors)

    def fits(self, text: str, budget: int) -> bool:
        """Whether reading `text` with `budget` would give what this read gave."""
        if self.text != text:
            return False
        return budget == self.budget if self.over_budget else self.nodes <= budget


PIECES_PARSED_ALONE = 64
"""At most this many changed pieces are parsed one by one; more, and reading the whole
file at once (one parser for all its documents) is quicker."""


BUDGET_ERROR = "the policy directory has more than"
"""How the reader's error about the directory's node budget begins."""


def decode_file(
    source: SourceText, before: DecodedFile | None, budget: int = MAX_NODES_PER_DIRECTORY
) -> DecodedFile:
    """Decode every document of a file, reusing the pieces it had `before` where unchanged.

    `budget` is what is left of the directory's nodes once the files before it took theirs.

    A document equal to one the file held before is that very object, so the
    translations cached for it stay valid (a document carries no line numbers:
    those stay in its RawDocument). A file read whole (the first time, or when
    much of it changed) is cut into pieces afterwards, for the next read.
    """
    pieces = split_documents(source.text)
    if pieces is not None and len(pieces) > 1 and before is not None and before.pieces:
        gone = before.pieces.keys() - pieces  # the pieces edited (or removed): found in C
        if len(set(pieces) - before.pieces.keys()) <= PIECES_PARSED_ALONE:
            # Only a gone piece can hold the earlier equal of a document in a new piece: a
            # piece kept hands on its own documents.
            earlier = _by_name(d for key in gone for d, _ in before.pieces[key].documents)
            found = _decode_pieces(source, pieces, before, earlier, budget)
            if found is not None:
                return found
    earlier = _by_name(d for d, _ in before.documents) if before is not None else {}
    raws, errors, nodes = read_documents_counted(source.text, source.path, budget)
    refused: list[RawDocument] = []
    documents = _decoded(raws, errors, refused, earlier)
    cut = _cut(pieces, documents) if pieces is not None and len(pieces) > 1 and not errors else {}
    return DecodedFile(source.text, errors, documents, cut, nodes, budget, refused)


def _by_name(documents: Iterable[AnyDocument]) -> dict[tuple[type, str], AnyDocument]:
    return {(type(document), document.name): document for document in documents}


def _cut(pieces: list[PieceKey], documents: Decoded) -> dict[PieceKey, _Piece]:
    """The documents of a file read whole (without a single error), by the piece they are in.

    A piece's nodes are its documents' nodes once aliases are expanded, which is what
    the budget counts.
    """
    out: dict[PieceKey, _Piece] = {}
    taken = 0
    for index, key in enumerate(pieces):
        end = pieces[index + 1][0] if index + 1 < len(pieces) else None
        first = taken
        while taken < len(documents) and (end is None or documents[taken][1].line <= end):
            taken += 1
        mine = documents[first:taken]
        out[key] = _Piece([], mine, sum(raw.nodes for _, raw in mine))
    return out


def _decode_pieces(
    source: SourceText,
    pieces: list[PieceKey],
    before: DecodedFile | None,
    earlier: dict[tuple[type, str], AnyDocument],
    budget: int,
) -> DecodedFile | None:
    """The file from its pieces; None when it has to be read whole."""
    kept = before.pieces if before is not None else {}
    decoded: dict[PieceKey, _Piece] = {}
    errors: list[PolicyError] = []
    documents: Decoded = []
    refused: list[RawDocument] = []
    left = budget
    for key in pieces:
        piece = kept.get(key)
        if piece is None:
            piece = _decode_piece(source.path, *key, earlier)
            if piece is None:
                return None
        left -= piece.nodes
        if left < 0:
            return None
        decoded[key] = piece
        errors += piece.errors
        documents += piece.documents
        refused += piece.refused
    return DecodedFile(source.text, errors, documents, decoded, budget - left, budget, refused)


def _decode_piece(
    file: str, start: int, text: str, earlier: dict[tuple[type, str], AnyDocument]
) -> _Piece | None:
    raws, read_errors, nodes = read_documents_counted(text, file)
    if read_errors:
        return None
    for raw in raws:
        raw.line += start
        raw.lines = {path: line + start for path, line in raw.lines.items()}
    errors: list[PolicyError] = []
    refused: list[RawDocument] = []
    return _Piece(errors, _decoded(raws, errors, refused, earlier), nodes, refused)


def _decoded(
    raws: list[RawDocument],
    errors: list[PolicyError],
    refused: list[RawDocument],
    earlier: dict[tuple[type, str], AnyDocument],
) -> Decoded:
    """Validate each document on its own; its errors go to `errors`, and the document
    to `refused` when it has any."""
    documents: Decoded = []
    for raw in raws:
        if raw.data is None:  # an empty document, as between two `---`
            continue
        document, doc_errors = validate_document(raw)
        errors.extend(doc_errors)
        if document is None:
            refused.append(raw)
        else:
            same = earlier.get((type(document), document.name))
            documents.append((same if same == document else document, raw))
    return documents


__all__ = ["DecodedFile", "decode_file"]
