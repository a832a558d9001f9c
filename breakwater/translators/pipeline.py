"""Policy texts → a validated PolicySet, or every mistake at once: the one way policies are read.

`serve`, `validate`, `render`, `explain` and the tests all come through
here, so a policy set that one of them accepts, all of them accept. Nothing
here opens a file: the texts come from the policy sources
(`breakwater.controlplane.state.sources`), or straight from a test.

A `PolicyReader` remembers what each file's text decoded to, with the text
it was decoded from, so a reload parses and decodes only
the files whose bytes changed; the documents of the others are the very
objects read before, which lets the cross-document merges (see
`PolicySet`) and the translators' caches recognise them by identity. A
one-shot `policyset_from_texts` is a reader used once: both give the same
result for the same texts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from breakwater.translators.decode import validate_document
from breakwater.translators.documents import RawDocument, SourceText
from breakwater.translators.errors import PolicyError
from breakwater.translators.gateway_api.model import GatewayApiDocument
from breakwater.translators.gateway_api.resolve import resolve_gateway_api
from breakwater.translators.kinds import AnyDocument
from breakwater.translators.model import Document
from breakwater.translators.policyset import MergeMemo, PolicySet
from breakwater.translators.validate import build_policyset
from breakwater.translators.yaml_reader import read_documents


@dataclass(frozen=True)
class LoadedPolicies:
    """What the policy texts amount to."""

    policyset: PolicySet | None
    """None as soon as there is one error: a PolicySet that is handed on is always whole and valid."""
    errors: list[PolicyError]
    """Every mistake, sorted by file and line."""
    documents: list[tuple[AnyDocument, RawDocument]]
    """Every document that is valid on its own, in reading order, even when the set is refused."""


@dataclass(frozen=True)
class _DecodedFile:
    """One file's text read and each of its documents decoded on its own."""

    text: str
    errors: list[PolicyError]
    documents: list[tuple[AnyDocument, RawDocument]]


def _decode_file(source: SourceText, before: _DecodedFile | None) -> _DecodedFile:
    """Decode every document of a file; one equal to a document the file held `before` is
    that very object, so an edit of one document of a large file leaves the others'
    translations cached (a document carries no line numbers: those stay in its RawDocument)."""
    earlier = {(type(d), d.name): d for d, _ in before.documents} if before is not None else {}
    raws, errors = read_documents(source.text, source.path)
    documents: list[tuple[AnyDocument, RawDocument]] = []
    for raw in raws:
        if raw.data is None:  # an empty document, as between two `---`
            continue
        document, doc_errors = validate_document(raw)
        errors.extend(doc_errors)
        if document is not None:
            same = earlier.get((type(document), document.name))
            documents.append((same if same == document else document, raw))
    return _DecodedFile(source.text, errors, documents)


@dataclass(frozen=True)
class ReadCost:
    """Where the last read spent its time, for the log."""

    files: int
    decoded: int
    """Files parsed and decoded again (their text changed, or they are new)."""
    decode_s: float
    """Parsing (the C YAML parser) and decoding each document on its own."""
    check_s: float
    """Cross-document checks and merges."""


class PolicyReader:
    """Reads policy texts again and again, re-decoding only the files whose text changed.

    Not thread-safe: one reader belongs to one caller (the controller reads
    under its lock).
    """

    def __init__(self) -> None:
        self._files: dict[str, _DecodedFile] = {}
        """Name → what its last text decoded to; files gone from the texts are forgotten."""
        self._merges = MergeMemo()
        self.decoded_files = 0
        """Files parsed and decoded so far (the rest came from the cache)."""
        self.last_cost = ReadCost(0, 0, 0.0, 0.0)

    def read(
        self, texts: Mapping[str, SourceText], unreadable: Iterable[PolicyError] = ()
    ) -> LoadedPolicies:
        """Read, decode and check every document of `texts`, in the mapping's order.

        `texts` is keyed by each file's name relative to the policy directory;
        the order matters because the first of two documents with one name is
        the one the error about the second points back to. `unreadable` are the
        files the source could not read: they refuse the set like any other
        mistake, and are reported with the rest.
        """
        started = time.perf_counter()
        decoded_before = self.decoded_files
        errors = list(unreadable)
        documents: list[tuple[AnyDocument, RawDocument]] = []
        files: dict[str, _DecodedFile] = {}
        for name, source in texts.items():
            key = f"{name}\0{source.path}"
            decoded = self._files.get(key)
            if decoded is None or decoded.text != source.text:
                decoded = _decode_file(source, decoded)
                self.decoded_files += 1
            files[key] = decoded
            errors.extend(decoded.errors)
            documents.extend(decoded.documents)
        self._files = files
        native = [(d, raw) for d, raw in documents if isinstance(d, Document)]
        foreign = [(d, raw) for d, raw in documents if isinstance(d, GatewayApiDocument)]
        converted, gateway_api, foreign_errors = resolve_gateway_api(foreign, native)
        self._merges = self._merges.next_generation()
        checking = time.perf_counter()
        policyset, cross_errors = build_policyset(native + converted, self._merges)
        policyset = replace(policyset, gateway_api=gateway_api)
        policyset.__dict__["_merged"] = self._merges
        self.last_cost = ReadCost(
            len(files),
            self.decoded_files - decoded_before,
            checking - started,
            time.perf_counter() - checking,
        )
        all_errors = sorted(errors + foreign_errors + cross_errors, key=lambda e: (e.file, e.line))
        return LoadedPolicies(None if all_errors else policyset, all_errors, documents)


def policyset_from_texts(
    texts: Mapping[str, SourceText], unreadable: Iterable[PolicyError] = ()
) -> LoadedPolicies:
    """`PolicyReader.read` once, with nothing remembered from an earlier read."""
    return PolicyReader().read(texts, unreadable)


__all__ = ["LoadedPolicies", "PolicyReader", "ReadCost", "SourceText", "policyset_from_texts"]
