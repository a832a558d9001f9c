"""A subprocess in its own session, its output copied to a log file by this process.

The output goes through a pipe rather than straight into the file, so a file
size limit imposed on the child does not cut its log short. Every process
started here is stopped by whoever started it, by its own handle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from .memory import rss_bytes


class LoggedProcess:
    """One process at a time: `start` it (subclasses say how), `stop` it, `kill9` it."""

    def __init__(self, log_path: Path, *, preexec_fn: Callable[[], None] | None = None) -> None:
        self.log_path = log_path
        self.preexec_fn = preexec_fn
        self.process: subprocess.Popen[bytes] | None = None
        self._copier: threading.Thread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def spawn(
        self, command: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Run `command` in a new session, its output appended to the log; `env` is its whole
        environment (default: this process's)."""
        process = subprocess.Popen(
            list(command),
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=self.preexec_fn,
        )
        self.process = process
        self._copier = threading.Thread(
            target=_copy, args=(process.stdout, self.log_path), name="process-log", daemon=True
        )
        self._copier.start()
        return process

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_bytes(self) -> int:
        """The process's resident memory now."""
        return rss_bytes(self.pid)

    def kill9(self) -> int:
        """SIGKILL to the process group: no shutdown code runs, as in a crash or an OOM kill."""
        process = self.process
        assert process is not None, "not started"
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def log_tail(self, lines: int = 40) -> str:
        if self._copier is not None and not self.running:
            self._copier.join(5)
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _copy(source: IO[bytes] | None, log_path: Path) -> None:
    """Copy a process's output to a file, line by line, until the process closes it."""
    if source is None:
        return
    with source, log_path.open("ab") as log:
        for line in source:
            log.write(line)
            log.flush()


__all__ = ["LoggedProcess"]
