"""Reading a file piece by piece between its `---` lines gives what reading it whole gives.

Every policy file of the repository (examples, golden cases), and the same
files with mistakes put in, are decoded both ways: the same documents, at
the same lines, with the same errors. An edit of one piece re-reads only that
piece, and a piece that moved keeps its errors on the file's own lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from breakwater.translators.decode import validate_document
from breakwater.translators.decoded_files import DecodedFile, decode_file
from breakwater.translators.documents import SourceText
from breakwater.translators.yaml_reader import read_documents

ROOT = Path(__file__).resolve().parents[2]
Seen = tuple[list[str], list[tuple[dict[str, Any], str, int, dict[Any, int]]]]
"""Errors as text, and each document with its file, line and the line of each node."""

FILES = sorted(
    p for d in ("tests", "deploy") for p in (ROOT / d).rglob("*.yaml") if "---" in p.read_text()
)


def _whole(source: SourceText) -> Seen:
    raws, errors = read_documents(source.text, source.path)
    documents: list[tuple[dict[str, Any], str, int, dict[Any, int]]] = []
    for raw in raws:
        if raw.data is None:
            continue
        document, doc_errors = validate_document(raw)
        errors += doc_errors
        if document is not None:
            documents.append((document.model_dump(), raw.file, raw.line, raw.lines))
    return sorted(str(e) for e in errors), documents


def _pieces(decoded: DecodedFile) -> Seen:
    documents = [(d.model_dump(), r.file, r.line, r.lines) for d, r in decoded.documents]
    return sorted(str(e) for e in decoded.errors), documents


def _variants(text: str) -> list[str]:
    """The file, and the file with a mistake in its second document (if it has one)."""
    head, marker, tail = text.partition("\n---\n")
    if not marker:
        return [text]
    return [
        text,
        head + marker + tail.replace("name:", "name: [", 1),  # YAML that does not parse
        head + marker + tail.replace("metadata:", "metadata:\n  bogus: 1", 1),  # a bad field
        head + marker + "\n\n" + tail,  # later documents moved down two lines
        head + marker + tail.replace("kind:", "kind: x\nkind:", 1),  # a key written twice
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pieces_read_as_the_whole_file(path: Path) -> None:
    original = decode_file(SourceText(str(path), path.read_text()), None)
    for text in _variants(path.read_text()):
        source = SourceText(str(path), text)
        assert _pieces(decode_file(source, None)) == _whole(source)
        assert _pieces(decode_file(source, original)) == _whole(source)


def test_an_edit_rereads_one_piece_and_keeps_the_other_objects() -> None:
    path = ROOT / "deploy" / "examples" / "services.yaml"
    text = path.read_text()
    first = decode_file(SourceText(str(path), text), None)
    assert len(first.pieces) > 2, "the example should hold several documents"
    moved = decode_file(SourceText(str(path), "\n\n" + text), first)
    assert [d for d, _ in moved.documents] == [d for d, _ in first.documents]
    assert all(a is b for (a, _), (b, _) in zip(moved.documents, first.documents, strict=True))
    assert [r.line for _, r in moved.documents] == [r.line + 2 for _, r in first.documents]
    assert _pieces(moved) == _whole(SourceText(str(path), "\n\n" + text))
