"""A server under benchmark in its own process: started, waited for, measured and stopped.

Breakwater and the peer control planes are driven the same way, so the
launching, the readiness wait and the measuring are written once here.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from bench import proc
from tests.support.proc import rss_bytes

READY_POLL = 0.1
STOP_WAIT = 15.0
"""Seconds a server has to exit after SIGTERM before it is killed."""


class ServedProcess:
    """One server process; subclasses say how to start it and when it is ready."""

    name = "server"
    log_path: Path

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> Self:
        raise NotImplementedError

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def launch(self, command: list[str], ready: Callable[[], bool], timeout: float) -> Self:
        """Start ``command`` (output to ``log_path``) and wait until ``ready()`` is true."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                if ready():
                    return self
            except OSError:
                pass
            time.sleep(READY_POLL)
        self.stop()
        raise TimeoutError(f"{self.name} not ready after {timeout}s: {self.log_tail()}")

    def cpu_seconds(self) -> float:
        return proc.cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
