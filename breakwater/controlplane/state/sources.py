"""The policy files: read each once into texts and a version, and poll the directory for changes.

Everything Breakwater reads from the policy directory is read here, and each
file only once per change: the texts handed to the translators and the
policy version that replicas compare come from the same bytes, so a version
can never describe other files than the ones that were parsed.

Polling (ten times a second) instead of inotify keeps watching working on
ConfigMap mounts, where files change through symlink swaps that inotify
watchers often miss, and needs no extra dependency. A change is only a
signal; reading and validating the files is the controller's job.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from breakwater.controlplane.background import Background
from breakwater.defaults import POLICY_POLL_INTERVAL
from breakwater.translators.documents import SourceText
from breakwater.translators.errors import PolicyError
from breakwater.translators.pipeline import LoadedPolicies, PolicyReader

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
"""PyYAML builds a Python object per node (about 5 µs and 150 bytes each): 1 MiB reads in seconds."""

Fingerprint = tuple[tuple[str, int, int], ...]


def policy_files(path: Path) -> list[Path]:
    """The YAML files a directory holds (sorted, so that loading is deterministic).

    Hidden files and directories are skipped: a Kubernetes ConfigMap volume
    holds each file twice, as `name.yaml` and inside `..data/` (and the
    timestamped directory it links to), and an editor's swap or backup
    files start with a dot too.
    """
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


@dataclass(frozen=True)
class PolicyFiles:
    """Everything read from the policy directory in one pass."""

    texts: dict[str, SourceText]
    """Name relative to the policy directory (empty when the source is one file) → its text."""
    errors: list[PolicyError]
    """Files that could not be read, or a source that does not exist."""
    version: str
    """Hash of the relative names and the bytes read; it names the files only when `errors` is empty."""


def _policy_version(files: list[tuple[str, bytes]]) -> str:
    """Relative names, not paths: replicas that mount the same files at other paths agree.

    `files` holds each file's name and the SHA-256 of its bytes, so that a file kept from
    the last read (`FileReads`) is not hashed again."""
    digest = hashlib.sha256()
    for name, content in files:
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(content)
    return digest.hexdigest()[:16]


RACY_NANOSECONDS = 2_000_000_000
"""A file modified this recently before it was read is read and hashed again next time
whatever its stat says: a write in the same tick of the file system's clock keeps size and
times (Git's "racily clean" files). Only its decoding is spared when the bytes are the same."""

Stat = tuple[int, int, int, int]
"""Size, modification time, inode and change time (ns): another write, a touch that sets
the time back, or a ConfigMap's link swap all change it."""


@dataclass(frozen=True)
class _Kept:
    stat: Stat
    digest: bytes
    text: SourceText
    racy: bool
    """Modified within `RACY_NANOSECONDS` of the read: the stat alone does not vouch for it."""


class FileReads:
    """The last read of each policy file, kept while its stat stays the same.

    A server re-reads the directory on every change; with this, a read costs a stat of
    each file and the reading, hashing and decoding of the files that changed, not of every
    byte of the mesh. The texts handed on are the very objects of the last read, which the
    decoder recognises without comparing them."""

    def __init__(self) -> None:
        self._kept: dict[Path, _Kept] = {}
        self._seen: dict[Path, _Kept] = {}

    def get(self, file: Path, stat: Stat) -> _Kept | None:
        kept = self._kept.get(file)
        if kept is None or kept.stat != stat:
            return None
        self._seen[file] = kept
        return kept

    def same(self, file: Path, digest: bytes) -> SourceText | None:
        """The text kept for these very bytes, if any: not decoded again, and recognised by
        the decoder without comparing it."""
        kept = self._kept.get(file)
        return kept.text if kept is not None and kept.digest == digest else None

    def put(self, file: Path, stat: Stat, digest: bytes, text: SourceText) -> None:
        racy = time.time_ns() - stat[1] <= RACY_NANOSECONDS
        self._seen[file] = _Kept(stat, digest, text, racy)

    def retain(self) -> None:
        """Forget the files this read did not see (removed, or not readable)."""
        self._kept, self._seen = self._seen, {}


def _stat(file: Path) -> Stat | None:
    try:
        found = file.stat()
    except OSError:
        return None  # reading it says what is wrong
    return (found.st_size, found.st_mtime_ns, found.st_ino, found.st_ctime_ns)


def _text(content: bytes) -> str:
    """UTF-8 with every line ending made `\\n`, as a file opened in text mode reads.

    CRLF files (from Windows editors) thus give the same text, and the same
    positions in errors, as LF files.
    """
    return content.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def read_policy_files(path: Path, kept: FileReads | None = None) -> PolicyFiles:
    """List the policy files once and read each once (or not at all: a file `kept` from the
    last read whose stat is unchanged).

    A file that is a link resolving outside the directory is refused: whoever may write
    the directory must not make the server read (and echo in errors) any file it can.
    A ConfigMap mount's links (`name.yaml` → `..data/name.yaml`) stay inside.

    At most one byte more than MAX_FILE_BYTES is read of any file, which is
    enough to refuse it: a huge file costs no more than a small one.
    """
    if not path.exists():
        missing = PolicyError(str(path), 0, "no such file or directory; give a policy directory")
        return PolicyFiles({}, [missing], _policy_version([]))
    directory = path.is_dir()
    texts: dict[str, SourceText] = {}
    errors: list[PolicyError] = []
    digests: list[tuple[str, bytes]] = []
    root = path.resolve()
    for file in policy_files(path):
        name = str(file.relative_to(path)) if directory else ""
        if directory and not file.resolve().is_relative_to(root):
            errors.append(
                PolicyError(
                    str(file),
                    1,
                    "is a link to a file outside the policy directory, which is not read; "
                    "copy the file into the directory or link to one inside it.",
                )
            )
            continue
        stat = _stat(file) if kept is not None else None
        found = kept.get(file, stat) if kept is not None and stat is not None else None
        if found is not None and not found.racy:
            digests.append((name, found.digest))
            texts[name] = found.text
            continue
        try:
            with file.open("rb") as handle:
                content = handle.read(MAX_FILE_BYTES + 1)
            digest = hashlib.sha256(content).digest()
            digests.append((name, digest))
            if len(content) > MAX_FILE_BYTES:
                errors.append(
                    PolicyError(
                        str(file), 1, f"file is larger than {MAX_FILE_BYTES} bytes; split it"
                    )
                )
                continue
            same = kept.same(file, digest) if kept is not None else None
            texts[name] = same if same is not None else SourceText(str(file), _text(content))
            if kept is not None and stat is not None and len(content) == stat[0]:
                kept.put(file, stat, digest, texts[name])
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(PolicyError(str(file), 1, f"cannot read file: {exc}"))
    if kept is not None:
        kept.retain()
    return PolicyFiles(texts, errors, _policy_version(digests))


def load_policy_files(
    path: Path, reader: PolicyReader | None = None
) -> tuple[PolicyFiles, LoadedPolicies]:
    """Read the policy files once and put their texts through the translators' one pipeline.

    A `reader` kept from one load to the next decodes only the files whose text changed.
    """
    files = read_policy_files(path)
    return files, (reader or PolicyReader()).read(files.texts, files.errors)


def fingerprint(directory: Path) -> Fingerprint:
    """Names, sizes and modification times of the policy files: cheap to take, changes on any edit."""
    entries = []
    for file in policy_files(directory):
        try:
            stat = file.stat()
        except OSError:
            continue  # removed between listing and stat: the next poll sees it gone
        entries.append((str(file), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


class DirectoryWatcher:
    """Calls `on_change` whenever the fingerprint of a policy directory differs from the last one."""

    def __init__(
        self,
        directory: Path,
        on_change: Callable[[], Awaitable[object]],
        poll_interval: float = POLICY_POLL_INTERVAL,
    ) -> None:
        self._directory = directory
        self._on_change = on_change
        self._poll_interval = poll_interval
        self._last: Fingerprint | None = None
        self._background = Background(f"watch {directory}")

    def start(self) -> None:
        self._last = fingerprint(self._directory)
        self._background.start(self._run())

    async def stop(self) -> None:
        await self._background.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                current = await asyncio.to_thread(fingerprint, self._directory)
            except OSError as exc:
                log.warning("cannot list policy directory %s: %s", self._directory, exc)
                continue
            if current != self._last:
                self._last = current
                await self._on_change()
