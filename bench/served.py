"""A server under benchmark in its own process: started, waited for, measured and stopped.

Breakwater (`bench.server`, through `breakwater.devtools.serve`) and the peer
control planes are all `LoggedProcess`es; this adds what the peers need to be
launched by a command and a readiness check, and what every server under
benchmark is measured by.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Self

from bench import proc
from breakwater.devtools.process import LoggedProcess

READY_POLL = 0.1
STOP_WAIT = 15.0
"""Seconds a server has to exit after SIGTERM before it is killed."""


def cpu_seconds(process: LoggedProcess) -> float:
    """The CPU time a server under benchmark has used so far."""
    return proc.cpu_seconds(process.pid)


class ServedProcess(LoggedProcess):
    """One peer server process; subclasses say how to start it and when it is ready."""

    name = "server"

    def launch(self, command: Sequence[str], ready: Callable[[], bool], timeout: float) -> Self:
        """Start ``command`` (output to ``log_path``) and wait until ``ready()`` is true."""
        process = self.spawn(command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
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
        return cpu_seconds(self)

    def stop(self, timeout: float = STOP_WAIT) -> None:
        super().stop(timeout)
