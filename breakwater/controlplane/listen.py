"""A port that cannot be bound, said the same way for the xDS port and the admin API.

gRPC reports a failed bind as a bare `RuntimeError` and aiohttp as the
socket's `OSError`; both become a `CannotListen` naming the port, what it
was for, and the flag that chooses another, which `serve` prints as it is.
"""

from __future__ import annotations

import socket


class CannotListen(OSError):
    """A listening port that could not be bound; the message is the whole sentence."""

    def __init__(self, what: str, host: str, port: int, flag: str) -> None:
        super().__init__(
            f"cannot listen for {what} on {host}:{port}: another program holds the port, or "
            f"the address is not one of this host's; choose another with {flag} HOST:PORT"
        )


def in_use(host: str, port: int) -> bool:
    """Whether another socket listens on `port` at `host` now, so that a server could not bind it.

    Asked before gRPC binds, because gRPC's core logs a failed bind on its own, in its own
    words, before Python hears of it.
    """
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False
