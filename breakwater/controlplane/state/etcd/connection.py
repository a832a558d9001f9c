"""The connection to etcd, and the one place that decides whether etcd is reachable.

Every call of the store and its watch goes through `EtcdConnection.call` or
`failure`, so an outage is noticed, logged and reported the same way
whichever operation ran into it, and the next call dials afresh (the next
endpoint).

A write returns only after etcd answered that it committed it. When etcd
cannot be reached, every call raises `StoreError` at once (connection
refused) or after `timeout` seconds (no quorum, a partition), and the
connection remembers that etcd is unavailable until a call succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aetcd  # type: ignore[import-untyped]

from breakwater.controlplane.state.etcd.access import EtcdAccess
from breakwater.controlplane.state.store import StoreError

# The whole etcd backend logs under the package's name, whichever module speaks.
log = logging.getLogger(__name__.rpartition(".")[0])

T = TypeVar("T")

DEFAULT_TIMEOUT = 3.0

# A channel whose etcd went away retries its connection quickly instead of
# backing off for up to two minutes (gRPC's default), so a replica notices
# within a second that etcd is back.
_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.min_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 1000,
}

# Errors that say nothing about etcd's reachability: the request itself was wrong.
_REQUEST_ERRORS: tuple[type[BaseException], ...] = (
    aetcd.InvalidArgumentError,
    aetcd.PreconditionFailedError,
)


class EtcdConnection:
    """One aetcd client at a time, over the endpoints in turn, and whether etcd answers.

    `state_read` tells whether the store has read the state at least once:
    an outage then leaves serving on that state and only refuses writes,
    which is what the log says.
    """

    def __init__(
        self,
        endpoints: tuple[tuple[str, int], ...],
        *,
        timeout: float,
        state_read: Callable[[], bool],
        access: EtcdAccess | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.access = access or EtcdAccess()
        self.timeout = timeout
        self._state_read = state_read
        self._client: Any = None
        self._endpoint = 0
        self._retiring: dict[Any, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        self.available = True
        self.error: str | None = None
        self.unavailable_since: float | None = None
        """Wall-clock time of the first failure of the current outage."""

    @property
    def endpoint(self) -> str:
        host, port = self.endpoints[self._endpoint % len(self.endpoints)]
        return f"{host}:{port}"

    def current(self) -> Any:
        """The client to call now, dialling the current endpoint when there is none."""
        if self._closed:
            raise StoreError("the etcd store is closed")
        if self._client is None:
            host, port = self.endpoints[self._endpoint % len(self.endpoints)]
            # aetcd's timeout is the gRPC deadline of each call (a float works).
            self._client = self.access.client(host, port, self.timeout, dict(_CHANNEL_OPTIONS))
        return self._client

    def _mark_ok(self) -> None:
        if not self.available:
            log.warning(
                "etcd at %s answers again (unavailable for %.1f s); writes are accepted",
                self.endpoint,
                time.time() - (self.unavailable_since or time.time()),
            )
        self.available = True
        self.error = None
        self.unavailable_since = None

    def failure(self, client: Any, action: str, exc: BaseException) -> StoreError:
        """Record that etcd failed; drop the connection so the next call dials afresh (next endpoint)."""
        endpoint = self.endpoint
        refused = self.access.explain(endpoint, exc)  # TLS or a user refused: what to fix
        if refused is not None:
            detail = refused
        elif isinstance(exc, aetcd.ConnectionTimeoutError | aetcd.WatchTimeoutError | TimeoutError):
            detail = (
                f"etcd at {endpoint} did not answer within {self.timeout:g} s (no quorum, or a "
                "network partition?)"
            )
        else:
            reason = str(exc).strip() or "connection closed"
            detail = f"etcd at {endpoint} is unreachable ({reason})"
        message = f"cannot {action}: {detail}"
        if isinstance(exc, _REQUEST_ERRORS) and refused is None:
            return StoreError(f"cannot {action}: etcd refused the request: {exc}")
        if self.available:
            if self._state_read():
                log.error(
                    "%s; serving continues from the last state read, writes are refused", message
                )
            else:
                log.error("%s", message)
            self.unavailable_since = time.time()
        self.available = False
        self.error = message
        if client is not None and client is self._client:
            self._client = None
            self._endpoint += 1
            self._retire(client)
        return StoreError(message)

    def _retire(self, client: Any) -> None:
        """Close a replaced connection once the calls still on it have run into their deadline.

        Closing it at once would cancel them, and a write cut short that way
        cannot say whether etcd committed it.
        """
        loop = asyncio.get_running_loop()
        self._retiring[client] = loop.call_later(self.timeout + 0.5, self._close_later, client)

    def _close_later(self, client: Any) -> None:
        if self._retiring.pop(client, None) is None:
            return
        task = asyncio.get_running_loop().create_task(self._close_client(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_client(client: Any) -> None:
        with contextlib.suppress(Exception):
            await client.close()

    @staticmethod
    def _cancelled_from_outside() -> bool:
        """Whether the running task itself is being cancelled (not just a call inside it)."""
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0

    async def call(self, action: str, operation: Callable[[Any], Awaitable[T]]) -> T:
        """Run one operation on the current client; any failure becomes a `StoreError`."""
        client = self.current()
        try:
            result = await operation(client)
        except (aetcd.ClientError, TimeoutError) as exc:
            raise self.failure(client, action, exc) from exc
        except asyncio.CancelledError as exc:
            # gRPC cancels the calls of a channel that is closed under them.
            if self._cancelled_from_outside():
                raise
            raise self.failure(client, action, exc) from exc
        self._mark_ok()
        return result

    async def close(self) -> None:
        self._closed = True
        clients = [self._client, *self._retiring]
        self._client = None
        for handle in self._retiring.values():
            handle.cancel()
        self._retiring.clear()
        await asyncio.gather(
            *(self._close_client(c) for c in clients if c is not None), *self._closing
        )
