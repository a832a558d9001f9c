"""Free TCP ports on the loopback interface.

Tests, the demo and benchmarks start several servers side by side (Envoy
listeners and admin ports, upstreams, the xDS server); fixed port numbers
would collide between parallel runs, so every port is checked free first.

Ports are drawn at random from below the kernel's ephemeral range, never
from it. A port handed out here is often bound a moment later by another
process (Envoy, `breakwater serve`), or bound again after a restart on the
same port; a port from the ephemeral range can meanwhile become the local
end of any outgoing connection on the machine, which made such binds fail
now and then when several suites ran at once.
"""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"

LOWEST_PICKED = 20000
"""No port below this is handed out: the low ports hold well-known services."""

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_FALLBACK_EPHEMERAL_START = 32768
_ATTEMPTS = 200


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_EPHEMERAL_START


def _bound(stack: contextlib.ExitStack, host: str, taken: set[int]) -> int:
    """Bind a socket (kept open in ``stack``) on a free port not in ``taken``."""
    highest = _ephemeral_start() - 1
    if highest > LOWEST_PICKED:
        for _ in range(_ATTEMPTS):
            port = random.randint(LOWEST_PICKED, highest)
            if port in taken:
                continue
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.bind((host, 0))
    chosen: int = sock.getsockname()[1]
    return chosen


def free_port(host: str = LOOPBACK) -> int:
    """Return a port that nothing listens on at the moment of the call.

    The socket is closed before returning so the caller can bind it; servers
    that can bind port 0 themselves (the upstream, aiohttp sites) should do
    that instead and report the port they got.
    """
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return `count` distinct free ports.

    Every socket stays bound until all numbers are known, so no number is
    handed out twice.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            ports.append(_bound(stack, host, set(ports)))
        return ports
