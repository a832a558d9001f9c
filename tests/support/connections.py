"""Raw client connections for connection-limit tests: a flood that holds sockets open, and a
steady client that keeps one keep-alive connection busy meanwhile."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

from breakwater.devtools.ports import LOOPBACK


@contextlib.contextmanager
def connection_flood(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` TCP connections to the port, opened one after another and held until the end."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(socket.create_connection((LOOPBACK, port), timeout=5.0))
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def closed_by_peer(sock: socket.socket, wait: float = 2.0) -> bool:
    """Whether the other side closed (or reset) the connection within `wait` seconds.

    Nothing was sent on it, so a server that keeps it sends nothing either and
    the read times out; one that closed it gives end-of-file or a reset.
    """
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


class SteadyClient:
    """Requests one after another on one keep-alive connection, in a thread, until stopped.

    The connection is opened by `start`, before whatever the test does next,
    so it is an established connection when the flood comes. Bounded in time
    (`max_duration`) so a test that forgets to stop it does not hang.
    """

    def __init__(self, port: int, interval: float = 0.02, max_duration: float = 30.0) -> None:
        self.port = port
        self.interval = interval
        self.max_duration = max_duration
        self.statuses: Counter[int | str] = Counter()
        self.reconnects = 0
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-client", daemon=True)

    def start(self) -> SteadyClient:
        self._thread.start()
        if not self._first.wait(10.0):
            raise TimeoutError("the steady client got no first answer in 10 s")
        return self

    def stop(self) -> Counter[int | str]:
        self._stop.set()
        self._thread.join(10.0)
        return self.statuses

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_duration
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5.0)
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                self.statuses[response.status] += 1
            except (OSError, http.client.HTTPException) as error:
                self.statuses[type(error).__name__] += 1
                connection.close()
                self.reconnects += 1
            self._first.set()
            self._stop.wait(self.interval)
        connection.close()
