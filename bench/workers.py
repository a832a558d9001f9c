"""Worker processes driven over pipes: one JSON command per line in, one JSON answer per line out.

The load generators spread thousands of clients over a few processes so that
one core is not their bound; this is the part they share.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class WorkerPool:
    """`total` clients split over at most `processes` workers started by `argv(share, first)`."""

    def __init__(
        self, what: str, total: int, processes: int, argv: Callable[[int, int], list[str]]
    ) -> None:
        self.what = what
        self.workers: list[subprocess.Popen[str]] = []
        count = max(1, min(processes, total))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        first = 0
        for index in range(count):
            share = total // count + (1 if index < total % count else 0)
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, *argv(share, first)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                    env=env,
                )
            )
            first += share

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def ask(self, command: str, arg: Any = None, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Send a command to every worker and collect every answer, within `timeout`."""
        for worker in self.workers:
            assert worker.stdin is not None
            worker.stdin.write(json.dumps([command, arg]) + "\n")
            worker.stdin.flush()
        replies: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            assert worker.stdout is not None
            ready, _, _ = select.select(
                [worker.stdout], [], [], max(0.0, deadline - time.monotonic())
            )
            if not ready:
                raise TimeoutError(f"a {self.what} worker did not answer {command!r}")
            line = worker.stdout.readline()
            if not line:
                raise RuntimeError(f"a {self.what} worker exited during {command!r}")
            replies.append(json.loads(line))
        return replies

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.ask("stop", timeout=30)
        for worker in self.workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.terminate()
                worker.wait(10)
