"""A policy directory whose reads wait for the test: what a server does before its read ends."""

from __future__ import annotations

import threading
from pathlib import Path

from breakwater.controlplane.state.policy_source import DirectorySource, SourceRead
from breakwater.translators.pipeline import PolicyReader

WAIT = 30.0


class GatedDirectory(DirectorySource):
    """The real directory source; each `read` says it began, then waits for `release`."""

    def __init__(self, directory: Path, poll_interval: float = 0.1) -> None:
        super().__init__(directory, poll_interval)
        self.reading = threading.Event()
        self.gate = threading.Event()

    def release(self) -> None:
        self.gate.set()

    def read(self, reader: PolicyReader) -> SourceRead:
        self.reading.set()
        if not self.gate.wait(WAIT):
            raise TimeoutError(f"the test never released the read of {self.directory}")
        return super().read(reader)
