"""`breakwater serve` under benchmark: `breakwater.devtools.serve` with serve's own debounce
and log level, an empty state store at each start, and what the benchmarks read from it.

`workers` is `serve --workers` (0 by default: one process, as every figure recorded before
workers existed); CPU and memory are those of every server process, the worker processes
included."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from bench import proc
from bench.served import STOP_WAIT
from breakwater.client import call, http
from breakwater.devtools.memory import rss_bytes
from breakwater.devtools.prometheus import metric_sum
from breakwater.devtools.serve import ServeProcess


class BreakwaterServer(ServeProcess):
    """A control plane serving ``policy_dir``; state in ``workdir/state``; log in ``workdir``."""

    def __init__(
        self,
        policy_dir: Path,
        workdir: Path,
        *,
        log_level: str = "warning",
        launcher: list[str] | None = None,
        extra_args: Sequence[str] = (),
        workers: int = 0,
    ) -> None:
        """``launcher`` replaces ``python -m breakwater.cli`` (e.g. ``[python, script]``);
        ``extra_args`` go after `serve`'s own (a token file)."""
        self.workers = workers
        self.policy_dir = policy_dir
        self.workdir = workdir
        self.state_dir = workdir / "state"
        super().__init__(
            policy_dir,
            self.state_dir,
            workdir / "breakwater.log",
            launcher=launcher,
            debounce=None,
            log_level=log_level,
            extra_args=["--workers", str(workers), *extra_args],
        )

    def start(
        self, timeout: float = 120.0, *, keep_state: bool = False, ready: bool = True
    ) -> Self:
        """Start with an empty state store (no weight overrides from earlier runs), or with
        the one the last run left (`keep_state`: a restart); wait for `/readyz` unless
        `ready` is False (a restart serves proxies from its kept snapshots before its admin
        API opens)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not ready:
            self.spawn(self.command)
            return self
        return super().start(timeout)

    def stop(self, timeout: float = STOP_WAIT) -> None:
        super().stop(timeout)

    def pids(self) -> list[int]:
        """The server's processes: `serve` and its xDS workers."""
        return [self.pid, *proc.children(self.pid)]

    def cpu_seconds(self) -> float:
        """CPU time of every server process so far (workers that exited included)."""
        return proc.process_tree_cpu(self.pid)

    def rss_bytes(self) -> int:
        """Resident memory of every server process, summed (the libraries they share counted
        once per process: compare differences, as idle memory per stream does)."""
        return sum(rss_bytes(pid) for pid in self.pids())

    def set_weights(self, route: str, weights: dict[str, int]) -> None:
        call(self.admin_url, "set_weights", {"route": route}, {"weights": weights})

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = call(self.admin_url, "status", timeout=60)
        return result

    def metric_sum(self, name: str) -> float:
        """The sum of every sample called `name` in /metrics, whatever its labels."""
        return metric_sum(http("GET", self.admin_url + "/metrics", timeout=60).text, name)
