"""Envoy's reference rate-limit service on a real Redis, on loopback, for global rate limit tests.

Redis is Debian's `redis-server` (`.ci/run` installs it); the service is
built once per machine by `make ratelimit` (`make test` does it first). A
test without either fails with what to run. The service reads its
configuration from `<workdir>/runtime/ratelimit/config/*.yaml`, where the
control plane keeps it (`serve --ratelimit-config`, `config_file`).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Self

import pytest

from breakwater.devtools.ports import LOOPBACK, free_ports
from breakwater.devtools.process import LoggedProcess
from breakwater.devtools.ratelimit_service import BUILD_COMMAND, service_binary

START_TIMEOUT = 15.0
SUBDIRECTORY = "ratelimit"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait_listening(process: LoggedProcess, port: int, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not _listening(port):
        if not process.running:
            raise RuntimeError(f"{what} exited at start:\n{process.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not listen on {port} in {START_TIMEOUT} s")
        time.sleep(0.05)


def find_redis_server() -> str:
    """Debian's redis-server; a test without it fails with how to get it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is missing: install Debian's redis-server "
            "(apt-get install redis-server; .ci/run does it)"
        )
    return binary


def find_rate_limit_service() -> Path:
    """The service `make ratelimit` built; a test without it fails with that command."""
    binary = service_binary()
    if not binary.exists():
        pytest.fail(
            f"Envoy's rate-limit service is not built: run `{BUILD_COMMAND}` once "
            f"(`make test` does it first); it builds into {binary.parent}"
        )
    return binary


class RedisServer(LoggedProcess):
    """A Redis on a free loopback port, keeping nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir / "redis.log")
        self.workdir = workdir
        self.port = free_ports(1)[0]

    def start(self) -> Self:
        self.spawn(
            [
                find_redis_server(),
                "--bind",
                LOOPBACK,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ]
        )
        _wait_listening(self, self.port, "redis-server")
        return self


class RateLimitService(LoggedProcess):
    """`github.com/envoyproxy/ratelimit`, gRPC on `grpc_port`, counting in `redis`."""

    def __init__(self, workdir: Path, redis: RedisServer) -> None:
        super().__init__(workdir / "ratelimit.log")
        self.workdir = workdir
        self.redis = redis
        self.grpc_port, self.http_port, self.debug_port = free_ports(3)
        self.config_dir = workdir / "runtime" / SUBDIRECTORY / "config"
        self.config_dir.mkdir(parents=True, exist_ok=True)

    @property
    def config_file(self) -> Path:
        """Where the service finds its configuration (`serve --ratelimit-config`)."""
        return self.config_dir / "breakwater.yaml"

    def start(self) -> Self:
        binary = find_rate_limit_service()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOST": LOOPBACK,
            "PORT": str(self.http_port),
            "GRPC_HOST": LOOPBACK,
            "GRPC_PORT": str(self.grpc_port),
            "DEBUG_HOST": LOOPBACK,
            "DEBUG_PORT": str(self.debug_port),
            "USE_STATSD": "false",
            "LOG_LEVEL": "warn",
            "REDIS_SOCKET_TYPE": "tcp",
            "REDIS_URL": f"{LOOPBACK}:{self.redis.port}",
            "RUNTIME_ROOT": str(self.workdir / "runtime"),
            "RUNTIME_SUBDIRECTORY": SUBDIRECTORY,
            "RUNTIME_WATCH_ROOT": "false",
            "RUNTIME_IGNOREDOTFILES": "true",
        }
        self.spawn([str(binary)], env=env)
        _wait_listening(self, self.grpc_port, "the rate-limit service")
        return self
