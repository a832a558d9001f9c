"""Valid documents held compactly: the YAML they were read from, and its lines, only when asked.

A RawDocument keeps the YAML data it was validated from and the line of
every node, so that an error can point at what was written. For a document
that validated, the data is never read again, and the lines only when a
check across documents finds a mistake in it, which is rare; at 10 000
services they were a third of the server's memory (30 000 documents, the
line of each of about 27 nodes). `compact_file` drops the data of each such
document and replaces its lines with `LazyLines`, which reads the
document's own text again (the piece of the file the reader keeps anyway,
`decoded_files`) the first time a line is asked for.

Only Breakwater's own documents are made compact: a Gateway API document is
converted on every read, from its data.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import Any

from breakwater.translators.decoded_files import DecodedFile
from breakwater.translators.documents import YamlPath
from breakwater.translators.model import Document
from breakwater.translators.yaml_reader import read_documents_counted


class LazyLines(dict[YamlPath, int]):
    """A document's line of each node, read again from its text when first asked for."""

    __slots__ = ("_source",)

    def __init__(self, file: str, start: int, text: str, line: int) -> None:
        super().__init__()
        self._source: tuple[str, int, str, int] | None = (file, start, text, line)

    def _fill(self) -> None:
        source = self._source
        if source is None:
            return
        self._source = None
        file, start, text, line = source
        raws, _, _ = read_documents_counted(text, file)
        for raw in raws:
            if raw.line + start == line:
                super().update({path: found + start for path, found in raw.lines.items()})
                return

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as what it was made from (the decode cache keeps it lazy), or once read,
        as the plain mapping it became."""
        if self._source is not None:
            return (LazyLines, self._source)
        return (dict, (dict(super().items()),))

    def get(self, key: YamlPath, default: Any = None) -> Any:
        self._fill()
        return super().get(key, default)

    def __getitem__(self, key: YamlPath) -> int:
        self._fill()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._fill()
        return super().__contains__(key)

    def __iter__(self) -> Iterator[YamlPath]:
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __eq__(self, other: object) -> bool:
        self._fill()
        if isinstance(other, LazyLines):
            other._fill()
        return super().__eq__(other)

    __hash__ = None

    def keys(self) -> KeysView[YamlPath]:  # type: ignore[override]
        self._fill()
        return super().keys()

    def values(self) -> ValuesView[int]:  # type: ignore[override]
        self._fill()
        return super().values()

    def items(self) -> ItemsView[YamlPath, int]:  # type: ignore[override]
        self._fill()
        return super().items()


def compact_file(decoded: DecodedFile) -> DecodedFile:
    """`decoded` with each valid Breakwater document's data dropped and its lines made lazy
    (in place: the file was just decoded, nothing else holds its documents yet)."""
    for (start, text), piece in decoded.pieces.items():
        for document, raw in piece.documents:
            if isinstance(document, Document) and raw.origin is None:
                raw.data = None
                if not isinstance(raw.lines, LazyLines):
                    raw.lines = LazyLines(raw.file, start, text, raw.line)
    return decoded


__all__ = ["LazyLines", "compact_file"]
