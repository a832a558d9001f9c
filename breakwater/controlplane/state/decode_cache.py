"""Decoded policy files kept in the state directory, so a restart does not decode them again.

Parsing and validating every document is most of a large mesh's start (at
10 000 services, 30 000 documents through PyYAML and pydantic). What a file
decodes to depends only on its text, its path (errors name it) and the code
that decodes it, so each decoded file is kept under a hash of those: the
Breakwater version and the source of `breakwater.translators` (an edited
checkout is another decoder), the path and the text. A restart on unchanged
files loads them instead (`PolicyReader(cache=...)`); any other text simply
misses. A file that cannot be loaded (cut short, from another Python) is a
miss too, never an error.

The entries are pickles, so the directory must be writable only by the
server's user, as the state store beside it already has to be. Writing is
left to `flush`, which the controller runs in a worker thread after the
reload has been published, so that a first start is not made slower by it;
entries of files no longer read are removed then.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import breakwater
from breakwater.translators.decoded_files import DecodedFile
from breakwater.translators.documents import SourceText

log = logging.getLogger(__name__)

FOLDER = "decoded"
SUFFIX = ".pickle"


@cache
def decoder_version() -> str:
    """Breakwater's version and a hash of the code that decodes (the translators' source)."""
    digest = hashlib.sha256(breakwater.__version__.encode())
    root = Path(breakwater.__file__).parent / "translators"
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class DecodeCache:
    """Decoded files by content, in `<state directory>/decoded/`."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / FOLDER
        self._pending: dict[str, DecodedFile] = {}
        self._current: dict[str, str] = {}
        """File name → the key of its text as last read."""
        self._lock = threading.Lock()
        self.loaded = 0
        """Files taken from the cache instead of decoded, so far."""

    @staticmethod
    def key(source: SourceText) -> str:
        digest = hashlib.sha256(decoder_version().encode())
        digest.update(source.path.encode() + b"\0" + source.text.encode())
        return digest.hexdigest()

    def get(self, name: str, source: SourceText) -> DecodedFile | None:
        """What `source` decoded to when it was last kept, or None."""
        key = self.key(source)
        with self._lock:
            self._current[name] = key
        try:
            with open(self.directory / (key + SUFFIX), "rb") as file:
                found = pickle.load(file)
        except Exception:  # a miss, whatever the reason: the file is decoded instead
            return None
        if not isinstance(found, DecodedFile) or found.text != source.text:
            return None
        self.loaded += 1
        return found

    def put(self, name: str, source: SourceText, decoded: DecodedFile) -> None:
        """Keep `decoded` for `source` at the next `flush`."""
        key = self.key(source)
        with self._lock:
            self._current[name] = key
            self._pending[key] = decoded

    def retain(self, names: Iterable[str]) -> None:
        """Only these files are read now: the next `flush` removes the others' entries."""
        wanted = set(names)
        with self._lock:
            self._current = {n: k for n, k in self._current.items() if n in wanted}

    def flush(self) -> None:
        """Write what was put since the last flush; remove the entries of files not read."""
        with self._lock:
            pending, self._pending = self._pending, {}
            used = set(self._current.values())
        if not pending and not self.directory.is_dir():
            return  # nothing decoded (a start that failed first): the state is left alone
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            for key, decoded in pending.items():
                if key not in used:
                    continue
                temporary = self.directory / f".{key}.{os.getpid()}"
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                with os.fdopen(os.open(temporary, flags, 0o600), "wb") as file:
                    pickle.dump(decoded, file, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(temporary, self.directory / (key + SUFFIX))
            for entry in self.directory.glob("*" + SUFFIX):
                if entry.name.removesuffix(SUFFIX) not in used:
                    with contextlib.suppress(OSError):
                        entry.unlink()
        except (OSError, pickle.PicklingError) as exc:
            log.warning("could not keep decoded policy files in %s: %s", self.directory, exc)


__all__ = ["DecodeCache", "decoder_version"]
