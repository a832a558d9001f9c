"""The parent's side of `serve --workers N`: the port, the workers, their feed and their fate.

`WorkerPool` stands where `XdsServer` stands with one process (`start` returns the port,
`stop` ends it all):

* **The port.** The parent checks once that the xDS port is free and keeps it bound (with
  `SO_REUSEPORT`, never listening) for as long as it serves: the workers bind it beside that
  socket, a second `serve` is refused as with one process (its check finds the port taken),
  and the port stays this server's while every worker is being restarted.
* **The feed.** `FeedingCache` is the parent's snapshot cache; each snapshot published to it
  goes to every worker as what changed since the group's last one (`feed.to_feed`), pickled
  once. A worker that starts is first sent every group's current snapshot, then told to bind.
* **Streams.** Each worker's reported streams are mirrored into the parent's registry
  (`mirror`), where status, metrics, fleet reports, rollouts and the reconciler read them.
  A new group's first proxy arrives as a mirrored connect: `NewGroups` has the reconciler
  build it, and the snapshot reaches every worker through the feed.
* **Relayed calls.** The gRPC API and the report receivers run in the parent on a Unix
  socket (`relay`), behind the proxy guard's report checks when proxy credentials are on;
  ADS admission runs in the workers, which tell the parent the credential of each stream.
* **Supervision.** A worker that exits (`kill -9` included) has its streams ended in the
  registry (observers see each disconnect) and is started again, fed, then bound; a worker
  that keeps dying is restarted less and less often (up to every 5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Hashable, Iterator, Sequence

import grpc
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from breakwater.controlplane.api.proxy_guard import ProxyGuard
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.listen import CannotListen, in_use
from breakwater.controlplane.logs import JsonFormatter, LogFormat
from breakwater.controlplane.xds.cache import NodeGroup, SnapshotCache
from breakwater.controlplane.xds.options import XdsServerOptions
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.controlplane.xds.server import ServerHook
from breakwater.controlplane.xds.status import StreamRegistry

from .feed import to_feed
from .frames import frame, read_frame
from .mirror import Mirror, MirroredStream
from .relay import relay_server
from .worker import WorkerConfig

log = logging.getLogger(__name__)

CONNECTION_AGE = 600.0
"""Seconds a worker keeps a connection (unless `max_connection_age` says otherwise): the
kernel spreads new connections only, so proxies that moved when a worker died spread over
the workers again as their connections age out."""
CONNECTION_AGE_GRACE = 30.0
"""Seconds an aged-out connection's streams (an ADS stream never ends by itself) have before
they are ended and the proxy reconnects."""
START_TIMEOUT = 60.0
_MAX_RESTART_DELAY = 5.0
_STEADY = 10.0
"""A worker that ran this long before it exited is restarted at once."""


class FeedingCache(SnapshotCache):
    """The parent's snapshot cache: what is published to it is fed to the workers."""

    def __init__(self, node_group: NodeGroup) -> None:
        super().__init__(node_group)
        self.pool: WorkerPool | None = None

    def set_snapshot(self, group: Hashable, snapshot: Snapshot, *, check: bool = True) -> bool:
        changed = super().set_snapshot(group, snapshot, check=check)
        if changed and self.pool is not None:
            self.pool.published(group, snapshot)
        return changed

    def clear_snapshot(self, group: Hashable) -> None:
        super().clear_snapshot(group)
        if self.pool is not None:
            self.pool.cleared(group)


def _event_loop() -> str:
    """The event loop workers run on: this process's (`serve --event-loop`)."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


@dataclasses.dataclass(eq=False)
class _Worker:
    slot: int
    process: subprocess.Popen[bytes]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    mirror: Mirror

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


class WorkerPool:
    """N worker processes serving the xDS port, fed, mirrored and restarted by this one."""

    def __init__(
        self,
        count: int,
        cache: FeedingCache,
        registry: StreamRegistry,
        *,
        host: str,
        port: int,
        options: XdsServerOptions,
        security: SecurityConfig,
        services: Sequence[ServerHook] = (),
        guard: ProxyGuard | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.count = count
        self.cache = cache
        self.registry = registry
        self.host = host
        self.requested_port = port
        self.options = options
        self.security = security
        self.guard = guard
        self._services = tuple(services)
        self._fed: dict[Hashable, Snapshot] = {}
        """Each group's snapshot as every live worker holds it (or is being sent it)."""
        self._live: list[_Worker] = []
        self._supervisors: list[asyncio.Task[None]] = []
        self._holder: socket.socket | None = None
        self._relay: grpc.aio.Server | None = None
        self._directory: str | None = None
        self._stopping = False
        self._config = b""
        self.restarts = 0
        """Workers started again after one exited."""
        self.port = 0
        cache.pool = self
        for group, snapshot in cache:
            self._fed[group] = snapshot

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def pids(self) -> list[int]:
        """The live workers' process ids."""
        return [w.process.pid for w in self._live]

    # the feed ---------------------------------------------------------------------

    def published(self, group: Hashable, snapshot: Snapshot) -> None:
        previous = self._fed.get(group)
        self._fed[group] = snapshot
        if self._live:
            data = frame(("snapshot", to_feed(group, snapshot, previous)))
            for worker in self._live:
                worker.send(data)

    def cleared(self, group: Hashable) -> None:
        if self._fed.pop(group, None) is not None and self._live:
            data = frame(("clear", group))
            for worker in self._live:
                worker.send(data)

    # start and stop ---------------------------------------------------------------

    async def start(self) -> int:
        """Hold the port, start the relay and the workers; returns once every worker listens."""
        if self._holder is not None:
            return self.port
        self._stopping = False
        self._holder = self._hold_port()
        self.port = self._holder.getsockname()[1]
        self._directory = tempfile.mkdtemp(prefix="breakwater-relay-")
        options = [
            o
            for o in self.options.grpc_options()
            if o[0].startswith(("grpc.max_receive", "grpc.max_send"))
        ]
        interceptors = () if self.guard is None else (self.guard.interceptor(),)
        self._relay, relay_address = relay_server(
            os.path.join(self._directory, "relay.sock"), self._services, options, interceptors
        )
        await self._relay.start()
        self._config = frame(("config", self._worker_config(relay_address)))
        first = [asyncio.get_running_loop().create_future() for _ in range(self.count)]
        self._supervisors = [
            asyncio.create_task(self._supervise(slot, first[slot]), name=f"xds-worker-{slot}")
            for slot in range(self.count)
        ]
        try:
            async with asyncio.timeout(START_TIMEOUT):
                for ready in first:
                    await ready
        except BaseException:
            await self.stop(0)
            raise
        log.info(
            "xDS served by %d worker processes on %s (pids %s)",
            self.count,
            self.address,
            ", ".join(map(str, self.pids())),
        )
        return self.port

    def _hold_port(self) -> socket.socket:
        host = self.host.strip("[]")
        if in_use(host, self.requested_port):
            raise CannotListen("xDS", self.host, self.requested_port, "--xds-address")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        holder = socket.socket(family, socket.SOCK_STREAM)
        try:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            holder.bind((host, self.requested_port))
        except OSError:
            holder.close()
            raise CannotListen("xDS", self.host, self.requested_port, "--xds-address") from None
        return holder

    def _worker_config(self, relay: str) -> WorkerConfig:
        options = self.options
        if options.max_connection_age is None:
            options = dataclasses.replace(options, max_connection_age=CONNECTION_AGE)
        if not any(key == "grpc.max_connection_age_grace_ms" for key, _ in options.extra):
            grace = ("grpc.max_connection_age_grace_ms", int(CONNECTION_AGE_GRACE * 1000))
            options = dataclasses.replace(options, extra=(*options.extra, grace))
        root = logging.getLogger()
        json_logs = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        log_format: LogFormat = "json" if json_logs else "text"
        return WorkerConfig(
            host=self.host,
            port=self.port,
            options=options,
            security=self.security,
            relay=relay,
            log_level=logging.getLevelName(root.getEffectiveLevel()),
            log_format=log_format,
        )

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop the workers (their streams end after `grace`), the relay, and let the port go."""
        self._stopping = True
        data = frame(("stop", grace or 0.0))
        for worker in self._live:
            worker.send(data)
        if self._supervisors:
            _, late = await asyncio.wait(self._supervisors, timeout=(grace or 0.0) + 5.0)
            for worker in self._live:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
            if late:
                await asyncio.wait(late, timeout=5.0)
            for task in late:
                task.cancel()
        self._supervisors = []
        if self._relay is not None:
            await self._relay.stop(grace)
            self._relay = None
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    # supervision ------------------------------------------------------------------

    async def _supervise(self, slot: int, first: asyncio.Future[None]) -> None:
        delay = 0.05
        while not self._stopping:
            started = time.monotonic()
            try:
                worker = await self._spawn(slot)
            except OSError as exc:
                if not first.done():
                    first.set_exception(exc)
                    return
                log.error("cannot start xDS worker %d: %s", slot, exc)
            else:
                try:
                    await self._serve(worker, first)
                finally:
                    await self._ended(worker)
                if not first.done():
                    first.set_exception(
                        RuntimeError(
                            f"xDS worker {slot} exited before it listened; its log says why"
                        )
                    )
            if self._stopping or not first.done() or first.exception() is not None:
                return
            lived = time.monotonic() - started
            delay = 0.05 if lived > _STEADY else min(delay * 2, _MAX_RESTART_DELAY)
            await asyncio.sleep(delay)
            self.restarts += 1

    async def _spawn(self, slot: int) -> _Worker:
        ours, theirs = socket.socketpair()
        try:
            # Inherited as the one inheritable descriptor, without `pass_fds`, and started by
            # `subprocess` rather than the event loop (uvloop forks): Python then starts it
            # with posix_spawn. A fork of this process, gRPC's threads running, has gRPC log
            # outside the server's log format that it skips its fork handlers.
            theirs.set_inheritable(True)
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "breakwater.controlplane.workers",
                    str(theirs.fileno()),
                    str(os.getpid()),
                    _event_loop(),
                ],
                close_fds=False,
            )
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        worker = _Worker(
            slot,
            process,
            reader,
            writer,
            Mirror(self.registry, self.cache, self._admitted),
        )
        worker.send(self._config)
        # Every group as it is now, then every change: no await between the two.
        for group, snapshot in list(self._fed.items()):
            worker.send(frame(("snapshot", to_feed(group, snapshot, None))))
        self._live.append(worker)
        worker.send(frame(("bind",)))
        return worker

    def _admitted(self, stream: MirroredStream) -> None:
        if self.guard is not None and stream.credential is not None:
            self.guard.admitted(stream.stream_id, str(stream.node.id), stream.credential)

    async def _serve(self, worker: _Worker, first: asyncio.Future[None]) -> None:
        """Take the worker's messages until it is gone."""
        while True:
            try:
                message = await read_frame(worker.reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            kind = message[0]
            if kind == "events":
                try:
                    worker.mirror.apply(message[1])
                except Exception:
                    log.exception("xDS worker %d reported what cannot be applied", worker.slot)
            elif kind == "bound":
                log.info(
                    "xDS worker %d (pid %d) listens on %s", worker.slot, message[1], self.address
                )
                if not first.done():
                    first.set_result(None)
            elif kind == "failed":
                if not first.done():
                    first.set_exception(CannotListen("xDS", self.host, self.port, "--xds-address"))
                log.error("xDS worker %d cannot listen: %s", worker.slot, message[1])

    async def _ended(self, worker: _Worker) -> None:
        if worker in self._live:
            self._live.remove(worker)
        worker.writer.close()
        code = await asyncio.to_thread(worker.process.wait)
        ended = worker.mirror.end_all()
        if self._stopping:
            return
        log.warning(
            "xDS worker %d (pid %d) exited with %s; its %d streams ended (their proxies "
            "reconnect to the other workers); starting it again",
            worker.slot,
            worker.process.pid,
            code,
            ended,
        )


class WorkerCollector(Collector):
    """The xDS workers in `/metrics`: how many serve, and how often one was started again.
    Registered with one process too (0 workers), so the metrics are the same either way."""

    def __init__(self, xds: object) -> None:
        self._pool = xds if isinstance(xds, WorkerPool) else None

    def collect(self) -> Iterator[Metric]:
        pool = self._pool
        yield GaugeMetricFamily(
            "breakwater_xds_workers",
            "Worker processes serving the xDS port now (`serve --workers`; 0: this process "
            "serves it).",
            value=0 if pool is None else len(pool.pids()),
        )
        yield CounterMetricFamily(
            "breakwater_xds_worker_restarts",
            "xDS worker processes started again after one exited; its proxies reconnected to "
            "the other workers.",
            value=0 if pool is None else pool.restarts,
        )


__all__ = ["CONNECTION_AGE", "FeedingCache", "WorkerCollector", "WorkerPool"]
