"""`breakwater serve` as a subprocess on fixed loopback ports, its output in a log file.

The one way the tests and the benchmarks (`bench/server.py`) run a real server:
one they can `kill -9`, start again on the same ports, run under lowered
resource limits (the log is written by this process, so a file size limit on
the server spares it) or measure alone.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

from breakwater.client import http

from .ports import LOOPBACK, free_ports
from .process import LoggedProcess
from .waiting import WaitTimeout, wait_until


class ServeError(AssertionError):
    """`breakwater serve` exited or did not become ready; the message ends with its log."""


class ServeProcess(LoggedProcess):
    """One `breakwater serve` process; `stop` and `start` again keep its ports.

    `policy_dir` None: the policies come from elsewhere (`--kubernetes` in `extra_args`).
    Ports left out are picked free. `state` is a state directory or a store URL
    (`etcd://...`). `preexec_fn` runs in the child before `exec` (resource limits).
    `launcher` replaces `python -m breakwater.cli` (a profiler around it); `debounce`
    (quiet, cap) is short by default so that tests do not wait, None for serve's own;
    `log_level` None is serve's own.
    """

    def __init__(
        self,
        policy_dir: Path | None,
        state: Path | str,
        log_path: Path,
        *,
        xds_port: int | None = None,
        admin_port: int | None = None,
        extra_args: Sequence[str] = (),
        preexec_fn: Callable[[], None] | None = None,
        name: str = "breakwater serve",
        launcher: Sequence[str] | None = None,
        debounce: tuple[float, float] | None = (0.02, 0.2),
        log_level: str | None = None,
    ) -> None:
        super().__init__(log_path, preexec_fn=preexec_fn)
        picked = iter(free_ports(2))
        self.xds_port = xds_port or next(picked)
        self.admin_port = admin_port or next(picked)
        self.name = name
        self.command = [
            *(launcher or (sys.executable, "-m", "breakwater.cli")),
            "serve",
            *(() if policy_dir is None else ("-c", os.fspath(policy_dir))),
            "--state",
            os.fspath(state),
            "--xds-address",
            self.xds_address,
            "--admin-address",
            f"{LOOPBACK}:{self.admin_port}",
            *(() if debounce is None else ("--debounce-quiet", str(debounce[0]))),
            *(() if debounce is None else ("--debounce-cap", str(debounce[1]))),
            *(() if log_level is None else ("--log-level", log_level)),
            *extra_args,
        ]

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    @property
    def xds_address(self) -> str:
        return f"{LOOPBACK}:{self.xds_port}"

    def start(self, timeout: float = 20.0) -> Self:
        """Start the process and wait until `/readyz` answers 200."""
        self.spawn(self.command)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until `/readyz` answers 200; stop the process if it never does."""

        def alive() -> None:
            process = self.process
            assert process is not None, "not started"
            if process.poll() is not None:
                raise ServeError(
                    f"{self.name} exited with {process.returncode}:\n{self.log_tail()}"
                )

        try:
            wait_until(
                lambda: http("GET", f"{self.admin_url}/readyz", timeout=1.0).status == 200,
                timeout,
                f"{self.name} to be ready",
                interval=0.05,
                check=alive,
            )
        except WaitTimeout:
            self.stop()
            raise ServeError(f"{self.name} not ready in {timeout} s:\n{self.log_tail()}") from None

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM and wait; returns the exit code and the seconds it took to exit."""
        assert self.process is not None, "not started"
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def restart(self, timeout: float = 20.0) -> Self:
        """Stop (if running) and start again on the same ports and log."""
        self.stop()
        return self.start(timeout)


__all__ = ["ServeError", "ServeProcess"]
