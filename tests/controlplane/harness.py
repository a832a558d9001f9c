"""Real processes for the end-to-end tests: upstream HTTP servers, an xDS server
running on its own event loop thread, and traffic through Envoy.

The tests themselves stay synchronous so that blocking calls to Envoy's admin
API and to its listeners never stall the xDS server.
"""

from __future__ import annotations

import asyncio
import http.client
import http.server
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from breakwater.controlplane.xds.cache import NodeGroup, SnapshotCache, node_cluster
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.controlplane.xds.server import XdsServer
from breakwater.controlplane.xds.source import Node
from breakwater.controlplane.xds.status import StreamRegistry, StreamStatus, XdsObserver
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK
from tests.support.envoy import envoy_for

T = TypeVar("T")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: Upstream

    def do_GET(self) -> None:
        body = self.server.label.encode()
        self.server.hits += 1
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Upstream(http.server.ThreadingHTTPServer):
    """A backend that answers every GET with its own label."""

    daemon_threads = True

    def __init__(self, label: str) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.label = label
        self.hits = 0
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


@dataclass
class Event:
    kind: str
    node_id: str
    type_url: str
    version: str
    detail: str = ""
    at: float = field(default_factory=time.monotonic)


class EventLog(XdsObserver):
    """Everything the server reported, in order; appended on the loop thread."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_send(self, node: Node, type_url: str, version: str, resources: int) -> None:
        self.events.append(Event("send", node.id, type_url, version, str(resources)))

    def on_ack(self, node: Node, type_url: str, version: str) -> None:
        self.events.append(Event("ack", node.id, type_url, version))

    def on_nack(self, node: Node, type_url: str, version: str, message: str) -> None:
        self.events.append(Event("nack", node.id, type_url, version, message))

    def on_connect(self, stream: StreamStatus) -> None:
        self.events.append(Event("connect", stream.node_id, "", ""))

    def on_disconnect(self, stream: StreamStatus) -> None:
        self.events.append(Event("disconnect", stream.node_id, "", ""))

    def of(self, kind: str, node_id: str | None = None, type_url: str | None = None) -> list[Event]:
        return [
            e
            for e in list(self.events)
            if e.kind == kind
            and (node_id is None or e.node_id == node_id)
            and (type_url is None or e.type_url == type_url)
        ]

    def sends_per_version(self, node_id: str, type_url: str) -> Counter[str]:
        return Counter(e.version for e in self.of("send", node_id, type_url))


class XdsHarness:
    """An xDS server on a private event loop thread, driven from synchronous tests."""

    def __init__(self, node_group: NodeGroup = node_cluster) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.cache = SnapshotCache(node_group)
        self.log = EventLog()
        self.server = XdsServer(self.cache, registry=StreamRegistry([self.log]))
        self.port = self.run(self.server.start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def call(self, function: Callable[[], T]) -> T:
        async def invoke() -> T:
            return function()

        return self.run(invoke())

    def set_snapshot(self, group: Hashable, snapshot: Snapshot, *, check: bool = True) -> None:
        self.call(lambda: self.cache.set_snapshot(group, snapshot, check=check))

    def streams(self, node_id: str | None = None) -> list[StreamStatus]:
        found = self.call(self.server.registry.streams)
        return [s for s in found if node_id is None or s.node_id == node_id]

    def synced(self, node_id: str) -> bool:
        streams = self.streams(node_id)
        return len(streams) == 1 and len(streams[0].types) == 4 and streams[0].synced

    def envoy(self, node_id: str, cluster: str, *, delta: bool = False) -> EnvoyProcess:
        return envoy_for(self.port, node_id, cluster=cluster, delta=delta, log_level="info")

    def close(self) -> None:
        self.run(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def get(port: int, path: str = "/", timeout: float = 2.0) -> tuple[int, str]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@dataclass(frozen=True)
class Result:
    started: float
    status: int
    body: str


class Traffic:
    """Requests through a listener from several keep-alive connections until stopped."""

    def __init__(self, port: int, connections: int = 4) -> None:
        self.port = port
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._drive, daemon=True) for _ in range(connections)
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _drive(self) -> None:
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=2)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                result = Result(started, response.status, response.read().decode())
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as error:
                result = Result(started, 0, repr(error))
                connection.close()
            with self._lock:
                self.results.append(result)

    def snapshot(self) -> list[Result]:
        with self._lock:
            return list(self.results)

    def bodies(self) -> Counter[str]:
        return Counter(r.body for r in self.snapshot() if r.status == 200)

    def failures(self) -> list[Result]:
        return [r for r in self.snapshot() if r.status != 200]

    def between(self, start: float, end: float) -> list[Result]:
        """Requests sent within [start, end]."""
        return [r for r in self.snapshot() if start <= r.started <= end]
