"""Where the policies come from: a directory of YAML files, or the objects of a Kubernetes API server.

The controller reads through this one interface, so both sources end in the same
pipeline (documents → PolicySet) and the same publishing. A source reads a whole,
consistent view each time (`read`, called in a worker thread), and tells the
controller when something changed (`start`'s callback); reading is always the
controller's job, under its lock.

A read that is refused as a whole (`policyset` None) changes nothing that is
serving. A source may also serve a set while reporting errors: the Kubernetes
source sets an invalid object aside (keeping its last valid version, if it had
one) and serves the rest, because one user's mistake must not freeze everyone
else's changes (endpoints follow pods every second).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from breakwater.controlplane.state.documents import DocumentStatus, DocumentStatuses
from breakwater.controlplane.state.sources import DirectoryWatcher, FileReads, read_policy_files
from breakwater.defaults import POLICY_POLL_INTERVAL
from breakwater.translators.errors import PolicyError
from breakwater.translators.pipeline import PolicyReader
from breakwater.translators.policyset import PolicySet

log = logging.getLogger(__name__)

OnChange = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class SourceRead:
    """One read of a source: what to serve (or None: keep serving the last), and what was wrong."""

    policyset: PolicySet | None
    errors: list[PolicyError]
    documents: list[DocumentStatus]
    version: str
    """Names what was read; equal versions mean equal inputs."""


class PolicySource(Protocol):
    """What the controller reads policies from."""

    what: str
    """What it reads, for the change history: `policy files`, `Kubernetes objects`."""

    def describe(self) -> str:
        """Where the policies come from, for logs: a path, or `Kubernetes (https://…)`."""
        ...

    def read(self, reader: PolicyReader) -> SourceRead:
        """The source's current view through the pipeline; runs in a worker thread."""
        ...

    async def start(self, on_change: OnChange) -> None:
        """Begin following the source; `on_change` is awaited after each change."""
        ...

    async def stop(self) -> None: ...


class DirectorySource:
    """The policy directory (or one file), polled for changes: the default everywhere."""

    what = "policy files"

    def __init__(self, directory: Path, poll_interval: float = POLICY_POLL_INTERVAL) -> None:
        self.directory = directory
        self._poll_interval = poll_interval
        self._watcher: DirectoryWatcher | None = None
        self._statuses = DocumentStatuses()
        self._kept = FileReads()

    def describe(self) -> str:
        return str(self.directory)

    def files_version(self) -> str | None:
        """The policy version of the files as they are now, or None when one cannot be read.
        Each file is read and hashed once: the next `read` takes it as kept, by its stat."""
        files = read_policy_files(self.directory, self._kept)
        return None if files.errors else files.version

    def read(self, reader: PolicyReader) -> SourceRead:
        started = time.perf_counter()
        files = read_policy_files(self.directory, self._kept)
        read = time.perf_counter()
        decoded = reader.decode(files.texts, files.errors)
        checking = time.perf_counter()
        loaded = reader.check(decoded)
        log.info(
            "policy files read in %.3f s: %d files read in %.3f s, %d of them parsed and "
            "decoded in %.3f s (the others unchanged), cross-document checks %.3f s",
            time.perf_counter() - started,
            decoded.files,
            read - started,
            decoded.decoded,
            checking - read,
            time.perf_counter() - checking,
        )
        return SourceRead(loaded.policyset, loaded.errors, self._statuses(loaded), files.version)

    async def start(self, on_change: OnChange) -> None:
        self._watcher = DirectoryWatcher(self.directory, on_change, self._poll_interval)
        self._watcher.start()

    async def stop(self) -> None:
        if self._watcher is not None:
            await self._watcher.stop()


__all__ = ["DirectorySource", "OnChange", "PolicySource", "SourceRead"]
