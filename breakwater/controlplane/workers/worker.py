"""One worker process: ADS on the shared xDS port, from the snapshots the parent feeds it.

Started by the parent (`pool`) with one end of a socket pair. It reads its `WorkerConfig`,
then every group's current snapshot, binds the port (`SO_REUSEPORT`, with the other workers)
when told to, and from then on takes snapshots as they come and reports what its streams do.
It ends when the parent says so or goes away (its socket closes; on Linux the kernel also
kills it when the parent dies). Ctrl-C in a terminal reaches the whole process group: the
worker leaves it to the parent to stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import Hashable
from dataclasses import dataclass

import grpc

from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.groups import group_key
from breakwater.controlplane.logs import LogFormat, configure_logging
from breakwater.controlplane.xds.cache import SnapshotCache
from breakwater.controlplane.xds.options import XdsServerOptions
from breakwater.controlplane.xds.server import XdsServer

from .feed import FedSnapshots
from .frames import frame, read_frame
from .relay import relay_hook
from .report import Batch, Reporter, ReportingServicer

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to serve: the port, its settings, and the proxies' security."""

    host: str
    port: int
    options: XdsServerOptions
    security: SecurityConfig
    relay: str
    """The parent's relay server (`unix:PATH`)."""
    log_level: str
    log_format: LogFormat


class Worker:
    def __init__(
        self, config: WorkerConfig, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.config = config
        self._reader = reader
        self._writer = writer
        self.cache = SnapshotCache(group_key)
        self.fed = FedSnapshots()
        self.guard = config.security.proxy_guard()
        self.reporter = Reporter(self._send, self._credential)
        if self.guard is not None:
            self.reporter.add_observer(self.guard)
        self.channel = grpc.aio.insecure_channel(
            config.relay,
            options=[
                ("grpc.max_receive_message_length", config.options.max_send_message_length),
                ("grpc.max_send_message_length", config.options.max_receive_message_length),
            ],
        )
        self.xds = XdsServer(
            self.cache,
            host=config.host,
            port=config.port,
            registry=self.reporter,
            options=config.options,
            services=[relay_hook(self.channel)],
            credentials=config.security.grpc_credentials(),
            admit=None if self.guard is None else self.guard.admit,
            share_port=True,
        )
        self.xds.servicer = ReportingServicer(
            self.cache,
            self.reporter,
            ordering_timeout=config.options.ordering_timeout,
            admit=self.xds.servicer.admit,
        )

    def _credential(self, stream_id: int) -> bytes | None:
        return None if self.guard is None else self.guard.credential_of(stream_id)

    def _send(self, batch: Batch) -> None:
        if not self._writer.is_closing():
            self._writer.write(frame(("events", batch)))

    async def run(self) -> int:
        """Serve until the parent says stop or goes away; the exit code."""
        grace = 0.0
        try:
            while True:
                try:
                    message = await read_frame(self._reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    log.info("the control plane is gone; this xDS worker stops")
                    break
                kind = message[0]
                if kind == "snapshot":
                    group, snapshot = self.fed.apply(message[1])
                    self.cache.set_snapshot(group, snapshot, check=False)
                elif kind == "clear":
                    self._clear(message[1])
                elif kind == "bind":
                    try:
                        port = await self.xds.start()
                    except OSError as exc:
                        self._writer.write(frame(("failed", str(exc))))
                        await self._writer.drain()
                        return 2
                    self._writer.write(frame(("bound", os.getpid(), port)))
                elif kind == "stop":
                    grace = float(message[1])
                    break
        finally:
            await self.xds.stop(grace)
            # The cancelled streams end on the loop's next turns; leaving before they did would
            # have asyncio cancel them again, which gRPC logs as an error.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    while len(self.reporter):
                        await asyncio.sleep(0.01)
            self.reporter.flush()
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()
            self._writer.close()
            await self.channel.close(None)
        return 0

    def _clear(self, group: Hashable) -> None:
        self.fed.forget(group)
        self.cache.clear_snapshot(group)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the parent dies (a `kill -9` of `serve` must
    not leave workers holding the port)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


async def _main(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    kind, config = await read_frame(reader)
    if kind != "config":
        raise SystemExit(f"expected the worker's configuration first, got {kind!r}")
    configure_logging(config.log_level, config.log_format)
    return await Worker(config, reader, writer).run()


def main(argv: list[str] | None = None) -> None:
    """`FD PARENT_PID [EVENT_LOOP]`: the socket to the parent, the parent, and the event loop
    to run on (`uvloop` or `asyncio`, as the parent's)."""
    args = sys.argv[1:] if argv is None else argv
    fd, parent = int(args[0]), int(args[1])
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if args[2:] == ["uvloop"]:
        import uvloop

        sys.exit(uvloop.run(_main(fd)))
    sys.exit(asyncio.run(_main(fd)))


__all__ = ["Worker", "WorkerConfig", "main"]
