"""A TCP forwarder on loopback that can partition one client from etcd and heal it.

`partition()` stops moving bytes: connections stay open but nothing gets
through, and new ones are accepted and left hanging, which is what a
dropped network looks like to the client (timeouts, not refusals).
`heal()` closes whatever hung and forwards again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Self

from breakwater.devtools.ports import LOOPBACK


class TcpGate:
    def __init__(self, target_port: int, *, host: str = LOOPBACK) -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        self._open = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="tcp-gate", daemon=True)
        self._thread.start()
        if not self._ready.wait(5.0):
            raise TimeoutError("the TCP gate did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main() -> None:
            self._server = await asyncio.start_server(self._accept, self.host, 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()
            async with self._server:
                await self._server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(main())
        loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            if not self._open:
                await reader.read()  # hang until the peer or heal() closes it
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.host, self.target_port
            )
            self._writers.add(upstream_writer)
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        except OSError:
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self._open:
                    writer.write(data)
                    await writer.drain()
                # partitioned: the bytes are dropped on the floor
        except OSError:
            pass
        finally:
            writer.close()

    def _call(self, action: str) -> None:
        loop = self._loop
        assert loop is not None

        async def run() -> None:
            if action == "partition":
                self._open = False
            else:
                self._open = True
                for writer in list(self._writers):
                    writer.close()
                self._writers.clear()

        asyncio.run_coroutine_threadsafe(run(), loop).result(5.0)

    def partition(self) -> None:
        self._call("partition")

    def heal(self) -> None:
        self._call("heal")

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        def close() -> None:
            server.close()
            for writer in list(self._writers):
                writer.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(close)
        if self._thread is not None:
            self._thread.join(5.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
