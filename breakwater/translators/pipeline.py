"""Policy texts → a validated PolicySet, or every mistake at once: the one way policies are read.

`serve`, `validate`, `render`, `explain` and the tests all come through
here, so a policy set that one of them accepts, all of them accept. Nothing
here opens a file: the texts come from the policy sources
(`breakwater.controlplane.state.sources`), or straight from a test.

A `PolicyReader` remembers what each file's text decoded to, piece by piece
between its `---` lines (`decoded_files`), so a reload parses and decodes
only the documents whose text changed; the others are the very objects
read before, which lets the cross-document merges (see
`PolicySet`) and the translators' caches recognise them by identity. A
one-shot `policyset_from_texts` is a reader used once: both give the same
result for the same texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from breakwater.translators.compact import compact_file
from breakwater.translators.decoded_files import DecodedFile, decode_file
from breakwater.translators.documents import Changes, RawDocument, SourceText
from breakwater.translators.errors import PolicyError
from breakwater.translators.gateway_api.model import GatewayApiDocument
from breakwater.translators.gateway_api.resolve import ConversionMemo, resolve_gateway_api
from breakwater.translators.kinds import AnyDocument
from breakwater.translators.model import Document
from breakwater.translators.policyset import MergeMemo, PolicySet
from breakwater.translators.refused import Refused
from breakwater.translators.route_edits import Checked, route_edit
from breakwater.translators.validate import build_policyset, recheck_routes
from breakwater.translators.yaml_reader import MAX_NODES_PER_DIRECTORY


@dataclass(frozen=True)
class LoadedPolicies:
    """What the policy texts amount to."""

    policyset: PolicySet | None
    """None as soon as there is one error: a PolicySet that is handed on is always whole and valid."""
    errors: list[PolicyError]
    """Every mistake, sorted by file and line."""
    documents: list[tuple[AnyDocument, RawDocument]]
    """Every document that is valid on its own, in reading order, even when the set is refused."""
    changes: Changes | None = None
    """Where `documents` may differ from the read before; None: anywhere."""


@dataclass(frozen=True)
class DecodedTexts:
    """Every document of the texts decoded on its own: the first half of a read."""

    errors: list[PolicyError]
    documents: list[tuple[AnyDocument, RawDocument]]
    files: int
    decoded: int
    """Files parsed and decoded again (their text changed, or they are new); the others'
    documents came from the reader's cache."""
    refused: list[RawDocument] = field(default_factory=list)
    """The documents that failed their own model; their errors are in `errors`."""
    changes: Changes | None = None
    """Where `documents` may differ from the reader's read before; None: anywhere."""


class DecodedCache(Protocol):
    """Where decoded files are kept between runs (`controlplane.state.decode_cache`): the
    reader asks it for a file it has not decoded yet, and hands it each file it decodes."""

    def get(self, name: str, source: SourceText) -> DecodedFile | None: ...

    def put(self, name: str, source: SourceText, decoded: DecodedFile) -> None: ...

    def retain(self, names: Iterable[str]) -> None: ...


class PolicyReader:
    """Reads policy texts again and again, re-decoding only the files whose text changed.

    Not thread-safe: one reader belongs to one caller (the controller reads
    under its lock).
    """

    def __init__(self, cache: DecodedCache | None = None, *, compact: bool = False) -> None:
        """`compact`: keep valid documents compactly (`translators.compact`): for a server,
        whose reader lives long; the documents' raw YAML data is then not kept."""
        self._cache = cache
        self._compact = compact
        self._files: dict[str, DecodedFile] = {}
        """Name → what its last text decoded to; files gone from the texts are forgotten."""
        self._merges = MergeMemo()
        self._conversions: ConversionMemo = {}
        """What each Gateway API document converted to in the last read (`resolve`)."""
        self._checked: Checked | None = None
        """The last set that passed every check: an edit of routes alone starts from it."""
        self.decoded_files = 0
        """Files parsed and decoded so far (the rest came from the cache)."""
        self._reads = 0
        self._layout: list[tuple[str, int]] = []
        """Each file of the last read and how many documents it held: while they stay the
        same, only the files decoded again can hold other documents (`Changes`)."""

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
        return self.check(self.decode(texts, unreadable))

    def decode(
        self, texts: Mapping[str, SourceText], unreadable: Iterable[PolicyError] = ()
    ) -> DecodedTexts:
        """The first half of `read`: parse and decode the files whose text changed."""
        decoded_before = self.decoded_files
        errors = list(unreadable)
        documents: list[tuple[AnyDocument, RawDocument]] = []
        refused: list[RawDocument] = []
        files: dict[str, DecodedFile] = {}
        layout: list[tuple[str, int]] = []
        spans: list[tuple[int, int]] = []
        budget = MAX_NODES_PER_DIRECTORY  # one for every file together
        for name, source in texts.items():
            if budget < 0:
                break  # the files after the one that went over the budget are not read
            key = f"{name}\0{source.path}"
            decoded = kept = self._files.get(key)
            if decoded is None and self._cache is not None:
                decoded = self._cache.get(key, source)
            if decoded is None or not decoded.fits(source.text, budget):
                decoded = decode_file(source, decoded, budget)
                if self._compact:
                    compact_file(_new_pieces(decoded, kept))
                self.decoded_files += 1
                if self._cache is not None:
                    self._cache.put(key, source, decoded)
            budget = -1 if decoded.over_budget else budget - decoded.nodes
            files[key] = decoded
            layout.append((key, len(decoded.documents)))
            if decoded is not kept:
                spans.append((len(documents), len(documents) + len(decoded.documents)))
            errors.extend(decoded.errors)
            documents.extend(decoded.documents)
            refused.extend(decoded.refused)
        self._files = files
        if self._cache is not None:
            self._cache.retain(files)
        self._reads += 1
        changes = Changes(
            self._reads, self._reads - 1, tuple(spans) if layout == self._layout else None
        )
        self._layout = layout
        return DecodedTexts(
            errors, documents, len(files), self.decoded_files - decoded_before, refused, changes
        )

    def check(self, decoded: DecodedTexts) -> LoadedPolicies:
        """The second half of `read`: the checks across documents, merges reused where the
        layers are the objects an earlier read merged. Gateway API documents are converted
        into Breakwater's kinds first (new objects on every read).

        The checks run whatever was refused before them, over the documents that are
        valid so far, so that one read reports every mistake it can find; what the refused
        documents name keeps those checks from reporting them as missing (`Refused`).
        """
        quick = self._route_edit(decoded)
        if quick is not None:
            return quick
        native = [(d, raw) for d, raw in decoded.documents if isinstance(d, Document)]
        foreign = [(d, raw) for d, raw in decoded.documents if isinstance(d, GatewayApiDocument)]
        converted, gateway_api, foreign_errors = resolve_gateway_api(
            foreign, native, self._conversions
        )
        self._merges = self._merges.next_generation()
        refused = Refused.of(decoded.refused, foreign_errors)
        policyset, cross_errors = build_policyset(native + converted, self._merges, refused)
        policyset = policyset.with_gateway_api(gateway_api)
        all_errors = sorted(
            decoded.errors + foreign_errors + cross_errors, key=lambda e: (e.file, e.line)
        )
        self._checked = None
        if not all_errors and not foreign:
            raws = {(type(d).__name__, d.name): raw for d, raw in native}
            self._checked = Checked(decoded.documents, policyset, raws, read=self._read(decoded))
        return LoadedPolicies(
            None if all_errors else policyset, all_errors, decoded.documents, decoded.changes
        )

    def _route_edit(self, decoded: DecodedTexts) -> LoadedPolicies | None:
        """`check` where only the rules of routes changed since the last set that passed
        (`route_edits`): their merged policies checked, nothing else visited. None when that
        does not apply, or a mistake was found (the whole check then reports it, with every
        place, as it always does)."""
        last = self._checked
        if last is None or decoded.errors or decoded.refused:
            return None
        changes = decoded.changes
        edit = route_edit(
            last, decoded.documents, changes if changes and changes.since == last.read else None
        )
        if edit is None or not recheck_routes(
            edit.policyset, self._merges, edit.raws, edit.changed
        ):
            return None
        self._checked = Checked(
            decoded.documents,
            edit.policyset,
            edit.raws,
            last.short_checks + 1,
            self._read(decoded),
        )
        return LoadedPolicies(edit.policyset, [], decoded.documents, changes)

    @staticmethod
    def _read(decoded: DecodedTexts) -> int:
        """The number of the read `decoded` came from; -1 when it is not known."""
        return decoded.changes.read if decoded.changes is not None else -1


def _new_pieces(decoded: DecodedFile, before: DecodedFile | None) -> DecodedFile:
    """`decoded` with only the pieces decoded now: the others were made compact when they
    were (a one-weight edit of a 1 500-document file makes one piece compact, not all)."""
    if before is None or not before.pieces:
        return decoded
    kept = before.pieces
    return replace(
        decoded,
        pieces={key: piece for key, piece in decoded.pieces.items() if kept.get(key) is not piece},
    )


def policyset_from_texts(
    texts: Mapping[str, SourceText], unreadable: Iterable[PolicyError] = ()
) -> LoadedPolicies:
    """`PolicyReader.read` once, with nothing remembered from an earlier read."""
    return PolicyReader().read(texts, unreadable)


__all__ = [
    "DecodedCache",
    "DecodedTexts",
    "LoadedPolicies",
    "PolicyReader",
    "SourceText",
    "policyset_from_texts",
]
