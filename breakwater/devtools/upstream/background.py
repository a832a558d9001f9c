"""`UpstreamServer`: an `Upstream` on its own event loop in a background thread.

Tests and the demo are synchronous and block on their own work (sending
traffic, waiting for Envoy); a private loop in a thread keeps the server
answering meanwhile, and `with UpstreamServer(...)` gives it a clear lifetime.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from types import TracebackType
from typing import Self, Unpack

from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.upstream.behavior import (
    Behavior,
    BehaviorChanges,
    SeenRequest,
    UpstreamStats,
)
from breakwater.devtools.upstream.server import Upstream

_START_TIMEOUT = 10.0


class UpstreamServer:
    """An `Upstream` running in a background thread with its own event loop.

    Tests and the demo are synchronous and also drive traffic from their own
    threads; a private loop keeps the server answering whatever the caller
    blocks on. Keyword arguments after the identity are `Behavior` fields.
    """

    def __init__(
        self,
        *,
        service: str = "upstream",
        subset: str = "default",
        instance: str | None = None,
        host: str = LOOPBACK,
        port: int = 0,
        behavior: Behavior | None = None,
        **changes: Unpack[BehaviorChanges],
    ) -> None:
        base = behavior if behavior is not None else Behavior()
        self._upstream = Upstream(
            service=service,
            subset=subset,
            instance=instance,
            host=host,
            port=port,
            behavior=dataclasses.replace(base, **changes),
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def upstream(self) -> Upstream:
        return self._upstream

    @property
    def port(self) -> int:
        return self._upstream.port

    @property
    def url(self) -> str:
        return self._upstream.url

    @property
    def service(self) -> str:
        return self._upstream.service

    @property
    def subset(self) -> str:
        return self._upstream.subset

    @property
    def instance(self) -> str:
        return self._upstream.instance

    @property
    def behavior(self) -> Behavior:
        return self._upstream.behavior

    def configure(self, **changes: Unpack[BehaviorChanges]) -> Behavior:
        return self._upstream.configure(**changes)

    def set_behavior(self, behavior: Behavior) -> None:
        self._upstream.set_behavior(behavior)

    def stats(self) -> UpstreamStats:
        return self._upstream.stats()

    def reset_stats(self) -> None:
        self._upstream.reset_stats()

    def seen(self) -> list[SeenRequest]:
        return self._upstream.seen()

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("the upstream server is already started")
        self._thread = threading.Thread(
            target=self._run, name=f"upstream-{self._upstream.service}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise TimeoutError(f"the upstream did not start within {_START_TIMEOUT} s")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("the upstream failed to start") from self._error
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_START_TIMEOUT)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._upstream.start())
            except BaseException as exc:
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self._upstream.stop())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            loop.close()

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
