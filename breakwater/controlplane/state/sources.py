"""Policy files as a source of change: poll a directory and say when its YAML changed.

Polling (a few times a second) instead of inotify keeps this working on
ConfigMap mounts, where files change through symlink swaps that inotify
watchers often miss, and needs no extra dependency. A change is only a
signal; reading and validating the files is the reconciler's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from breakwater.translators.loader import policy_files

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


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
        poll_interval: float = 0.25,
    ) -> None:
        self._directory = directory
        self._on_change = on_change
        self._poll_interval = poll_interval
        self._last: Fingerprint | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._last = fingerprint(self._directory)
        self._task = asyncio.create_task(self._run(), name=f"watch {self._directory}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

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
