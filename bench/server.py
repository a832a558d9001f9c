"""`breakwater serve` in its own process, so that its CPU and memory can be measured alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from bench import proc
from breakwater.devtools.adminclient import http
from breakwater.devtools.ports import LOOPBACK, free_ports
from tests.support.proc import rss_bytes
from tests.support.prometheus import metric_sum


class BreakwaterServer:
    """A control plane serving ``policy_dir``; state in ``state_dir``; log in ``workdir``."""

    def __init__(
        self,
        policy_dir: Path,
        workdir: Path,
        *,
        log_level: str = "warning",
        launcher: list[str] | None = None,
    ) -> None:
        """``launcher`` replaces the ``breakwater`` executable (e.g. ``[python, script]``)."""
        self.policy_dir = policy_dir
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.log_path = workdir / "breakwater.log"
        self.xds_port, self.admin_port = free_ports(2)
        self.log_level = log_level
        self.launcher = launcher
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    @property
    def xds_target(self) -> str:
        return f"{LOOPBACK}:{self.xds_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, timeout: float = 120.0) -> BreakwaterServer:
        """Start with an empty state store (no weight overrides from earlier runs)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        binary = Path(sys.executable).with_name("breakwater")
        command = [
            *(self.launcher or [str(binary)]),
            "serve",
            "-c",
            str(self.policy_dir),
            "--state",
            str(self.state_dir),
            "--xds-port",
            str(self.xds_port),
            "--admin-port",
            str(self.admin_port),
            "--log-level",
            self.log_level,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"breakwater serve exited: {self.log_tail()}")
            try:
                if http("GET", self.admin_url + "/readyz", timeout=2).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"breakwater serve not ready after {timeout}s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def set_weights(self, route: str, weights: dict[str, int]) -> None:
        reply = http("PUT", f"{self.admin_url}/v1/routes/{route}/weights", {"weights": weights})
        if reply.status != 200:
            raise RuntimeError(f"weights PUT answered {reply.status}: {reply.text[:300]!r}")

    def status(self) -> dict[str, Any]:
        reply = http("GET", self.admin_url + "/v1/status", timeout=60)
        if reply.status != 200:
            raise RuntimeError(f"/v1/status answered {reply.status}")
        result: dict[str, Any] = reply.body
        return result

    def metric_sum(self, name: str) -> float:
        """The sum of every sample called `name` in /metrics, whatever its labels."""
        return metric_sum(http("GET", self.admin_url + "/metrics", timeout=60).text, name)

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
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> BreakwaterServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
