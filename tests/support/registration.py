"""Instances as separate processes, and the `breakwater endpoints register --keepalive` beside
each: what a virtual machine runs, so that a test can SIGTERM or `kill -9` either one."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from breakwater.client import http
from breakwater.devtools.ports import LOOPBACK, free_port
from breakwater.devtools.process import LoggedProcess
from breakwater.devtools.waiting import wait_until


class UpstreamProcess(LoggedProcess):
    """`python -m breakwater.devtools.upstream` on a free loopback port, naming itself `instance`."""

    def __init__(
        self,
        workdir: Path,
        instance: str,
        *,
        service: str = "payments",
        subset: str = "default",
        latency: float = 0.0,
    ) -> None:
        super().__init__(workdir / f"{instance}.log")
        self.instance = instance
        self.port = free_port()
        self.command = [
            sys.executable, "-m", "breakwater.devtools.upstream",
            "--port", str(self.port), "--service", service, "--subset", subset,
            "--instance", instance, "--latency", str(latency),
        ]  # fmt: skip

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        self.spawn(self.command)
        wait_until(self._answers, 15.0, f"upstream {self.instance} to listen")
        return self

    def _answers(self) -> bool:
        if not self.running:
            raise AssertionError(f"upstream {self.instance} exited:\n{self.log_tail()}")
        try:
            return http("GET", f"http://{self.endpoint}/__control", timeout=1.0).status == 200
        except OSError:
            return False

    def requests(self) -> int:
        """Requests it served (its own counter, read over its control route)."""
        reply = http("GET", f"http://{self.endpoint}/__control", timeout=2.0)
        return int(json.loads(reply.text)["stats"]["requests"])


class KeepaliveProcess(LoggedProcess):
    """`breakwater endpoints register SERVICE ADDRESS:PORT --keepalive` against `server`."""

    def __init__(
        self,
        workdir: Path,
        server: str,
        service: str,
        endpoint: str,
        *,
        labels: Mapping[str, str] | None = None,
        zone: str | None = None,
        ttl: str | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        super().__init__(workdir / f"keepalive-{endpoint.replace(':', '-')}.log")
        self.endpoint = endpoint
        self.command = [
            sys.executable, "-m", "breakwater.cli", "endpoints", "register", service, endpoint,
            "--keepalive", "--server", server,
            *(arg for k, v in (labels or {}).items() for arg in ("--label", f"{k}={v}")),
            *(() if zone is None else ("--zone", zone)),
            *(() if ttl is None else ("--ttl", ttl)),
            *extra,
        ]  # fmt: skip

    def start(self) -> Self:
        self.spawn(self.command)
        wait_until(
            lambda: "registered" in self.log_tail() or self._died(),
            15.0,
            f"the keepalive of {self.endpoint} to register",
        )
        return self

    def _died(self) -> bool:
        if not self.running:
            raise AssertionError(f"the keepalive of {self.endpoint} exited:\n{self.log_tail()}")
        return False

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM, as systemd or a container runtime stops it; (exit status, seconds taken)."""
        assert self.process is not None, "not started"
        started = time.monotonic()
        os.kill(self.process.pid, signal.SIGTERM)
        status = self.process.wait(timeout)
        return status, time.monotonic() - started
