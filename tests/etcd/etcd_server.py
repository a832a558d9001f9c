"""A real single-member etcd on free loopback ports, with its own data directory.

Tests that need etcd find Debian's `etcd-server` binary (PATH, then
/usr/bin/etcd). Outside CI a missing binary skips them with the command that
installs it; under CI=true it fails, because CI installs it and a silent
skip would hide the gap.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from breakwater.devtools.ports import LOOPBACK, free_ports

INSTALL_HINT = "apt-get update && apt-get install -y etcd-server"


def find_etcd() -> str:
    """The etcd binary, or skip (fail under CI=true) with how to install it."""
    found = shutil.which("etcd")
    if found is None and os.access("/usr/bin/etcd", os.X_OK):
        found = "/usr/bin/etcd"
    if found is not None:
        return found
    message = f"these tests need a real etcd server; install it with: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class EtcdServer:
    """One etcd member; `stop`/`start` again keep its data and ports, as a restart does."""

    def __init__(self, data_dir: Path, *, name: str = "default") -> None:
        self.binary = find_etcd()
        self.data_dir = data_dir
        self.name = name
        self.client_port, self.peer_port = free_ports(2)
        self.log_path = data_dir.with_name(data_dir.name + ".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://{LOOPBACK}:{self.client_port}"

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.client_port}"

    def url(self, prefix: str) -> str:
        """The `--state` value for this etcd."""
        return f"etcd://{self.endpoint}/{prefix.strip('/')}"

    def start(self, timeout: float = 15.0) -> Self:
        if self.process is not None and self.process.poll() is None:
            return self
        peer_url = f"http://{LOOPBACK}:{self.peer_port}"
        command = [
            self.binary,
            "--name",
            self.name,
            "--data-dir",
            str(self.data_dir),
            "--listen-client-urls",
            self.client_url,
            "--advertise-client-urls",
            self.client_url,
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
            "--initial-cluster",
            f"{self.name}={peer_url}",
            # A single member elects itself sooner with a shorter election timeout.
            "--heartbeat-interval",
            "50",
            "--election-timeout",
            "500",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"etcd exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"etcd not healthy within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.client_url + "/health", timeout=1.0) as response:
                return b'"true"' in response.read()
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """A clean stop (SIGTERM): clients see their connections refused until `start`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 30) -> str:
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
        self.kill()
