"""`breakwater serve` in its own process, so that its CPU and memory can be measured alone."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from bench.served import ServedProcess
from breakwater.client import http
from breakwater.devtools.ports import LOOPBACK, free_ports
from tests.support.prometheus import metric_sum


class BreakwaterServer(ServedProcess):
    """A control plane serving ``policy_dir``; state in ``state_dir``; log in ``workdir``."""

    name = "breakwater serve"

    def __init__(
        self,
        policy_dir: Path,
        workdir: Path,
        *,
        log_level: str = "warning",
        launcher: list[str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        """``launcher`` replaces the ``breakwater`` executable (e.g. ``[python, script]``);
        ``extra_args`` go after `serve`'s own (a token file)."""
        self.extra_args = tuple(extra_args)
        self.policy_dir = policy_dir
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.log_path = workdir / "breakwater.log"
        self.xds_port, self.admin_port = free_ports(2)
        self.log_level = log_level
        self.launcher = launcher
        super().__init__()

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    @property
    def xds_target(self) -> str:
        return f"{LOOPBACK}:{self.xds_port}"

    def start(self, timeout: float = 120.0) -> Self:
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
            *self.extra_args,
        ]
        return self.launch(
            command,
            lambda: http("GET", self.admin_url + "/readyz", timeout=2).status == 200,
            timeout,
        )

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
