"""Free TCP ports on the loopback interface.

Tests, the demo and benchmarks start several servers side by side (Envoy
listeners and admin ports, upstreams, the xDS server); fixed port numbers
would collide between parallel runs, so every port is asked of the kernel.
"""

from __future__ import annotations

import contextlib
import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a port that nothing listens on at the moment of the call.

    The socket is closed before returning so the caller can bind it; another
    process could take the port in between, which is why servers that can
    bind port 0 themselves (the upstream, aiohttp sites) should do that
    instead and report the port they got.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return `count` distinct free ports.

    Calling `free_port` repeatedly may hand out the same number twice,
    because each socket is closed before the next is opened; holding all of
    them open until every number is known rules that out.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports
