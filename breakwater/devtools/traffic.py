"""Drive HTTP traffic through a listener and count what came back.

End-to-end claims about resilience are claims about counts: "a quarter of
the requests reached the canary", "no 5xx while the weights moved", "the
bulkhead turned the overflow into 503 with `x-envoy-overloaded`". This
module sends requests and keeps one record per request so that such claims
can be asserted exactly.

The API is synchronous because tests and the demo are; the work runs on an
asyncio loop (in a private thread when the caller already runs one). Every
loop stops by itself: a request count, a per-request timeout and a total
duration bound it.

The client never retries. aiohttp by default resends an idempotent request
once when a kept-alive connection breaks, which would hide exactly the
resets that retry policies are meant to cover; that is switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Self, TypeVar

import aiohttp

from breakwater.devtools.upstream import INSTANCE_HEADER, SUBSET_HEADER

DEFAULT_WATCH_HEADERS: tuple[str, ...] = (
    "x-envoy-overloaded",
    "x-envoy-ratelimited",
    "x-envoy-attempt-count",
)

HeadersArg = Mapping[str, str] | Callable[[int], Mapping[str, str]] | None
PathArg = str | Callable[[int], str]

_T = TypeVar("_T")

_START_TIMEOUT = 10.0


class ErrorKind(StrEnum):
    """Why a request got no complete response.

    CONNECT means nothing accepted the connection (a listener not yet
    up); RESET means the peer dropped the connection before a full response
    (what a crashing backend or a proxy's upstream reset looks like to a
    client). Both are connection errors, kept apart from timeouts.
    """

    CONNECT = "connect"
    RESET = "reset"
    TIMEOUT = "timeout"
    OTHER = "other"


CONNECTION_ERRORS = frozenset({ErrorKind.CONNECT, ErrorKind.RESET})


@dataclass(frozen=True)
class ResponseRecord:
    """One request's outcome; `status` is None exactly when `error` is set."""

    index: int
    started: float
    latency: float
    status: int | None = None
    instance: str | None = None
    subset: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error: ErrorKind | None = None
    error_detail: str = ""

    @property
    def is_5xx(self) -> bool:
        return self.status is not None and 500 <= self.status <= 599


@dataclass(frozen=True)
class TrafficResult:
    """Everything that happened to a batch of requests, with the usual tallies.

    `records` is ordered by request index. `not_sent` counts requests that
    the time bound cut off before they started, so `total + not_sent` is
    what was asked for. `started` of each record and `duration` are seconds
    since the run began.
    """

    records: tuple[ResponseRecord, ...]
    duration: float
    not_sent: int = 0
    by_status: Counter[int] = field(init=False)
    by_instance: Counter[str] = field(init=False)
    by_subset: Counter[str] = field(init=False)
    by_error: Counter[ErrorKind] = field(init=False)
    header_counts: Counter[str] = field(init=False)

    def __post_init__(self) -> None:
        records = tuple(sorted(self.records, key=lambda record: record.index))
        object.__setattr__(self, "records", records)
        object.__setattr__(
            self, "by_status", Counter(r.status for r in records if r.status is not None)
        )
        object.__setattr__(
            self, "by_instance", Counter(r.instance for r in records if r.instance is not None)
        )
        object.__setattr__(
            self, "by_subset", Counter(r.subset for r in records if r.subset is not None)
        )
        object.__setattr__(
            self, "by_error", Counter(r.error for r in records if r.error is not None)
        )
        object.__setattr__(
            self, "header_counts", Counter(name for r in records for name in r.headers)
        )

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def responses(self) -> int:
        return self.by_status.total()

    @property
    def ok(self) -> int:
        """Responses with a 2xx status."""
        return sum(count for status, count in self.by_status.items() if 200 <= status <= 299)

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status; transport errors are not included."""
        return sum(count for status, count in self.by_status.items() if 500 <= status <= 599)

    @property
    def errors(self) -> int:
        """Requests that got no complete response, whatever the reason."""
        return self.by_error.total()

    @property
    def connection_errors(self) -> int:
        return sum(self.by_error[kind] for kind in CONNECTION_ERRORS)

    @property
    def timeouts(self) -> int:
        return self.by_error[ErrorKind.TIMEOUT]

    @property
    def latencies(self) -> list[float]:
        return [record.latency for record in self.records]

    @property
    def rate(self) -> float:
        """Requests completed per second over the whole run."""
        return self.total / self.duration if self.duration > 0 else 0.0

    def status_fraction(self, status: int) -> float:
        """Share of all requests (errors included) answered with `status`."""
        return self.by_status[status] / self.total if self.total else 0.0

    def instance_fraction(self, instance: str) -> float:
        return self.by_instance[instance] / self.total if self.total else 0.0

    def subset_fraction(self, subset: str) -> float:
        return self.by_subset[subset] / self.total if self.total else 0.0

    def with_header(self, name: str) -> list[ResponseRecord]:
        name = name.lower()
        return [record for record in self.records if name in record.headers]

    def latency_percentile(self, percent: float) -> float:
        """Nearest-rank percentile of all latencies (errors included), in seconds."""
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be between 0 and 100, got {percent}")
        latencies = sorted(self.latencies)
        if not latencies:
            return 0.0
        rank = max(1, math.ceil(percent / 100 * len(latencies)))
        return latencies[rank - 1]

    def summary(self) -> str:
        """One line for assertion messages and demo output."""
        statuses = ", ".join(f"{s}={c}" for s, c in sorted(self.by_status.items()))
        instances = ", ".join(f"{i}={c}" for i, c in sorted(self.by_instance.items()))
        errors = ", ".join(f"{e.value}={c}" for e, c in sorted(self.by_error.items()))
        return (
            f"{self.total} requests in {self.duration:.2f}s"
            f" (not sent {self.not_sent}); status: {statuses or '-'};"
            f" instances: {instances or '-'}; errors: {errors or '-'};"
            f" p50 {self.latency_percentile(50) * 1000:.1f}ms"
            f" p99 {self.latency_percentile(99) * 1000:.1f}ms"
        )


class _Client:
    """One session and the logic that turns a request into a `ResponseRecord`."""

    def __init__(
        self,
        base_url: str,
        *,
        path: PathArg,
        method: str,
        headers: HeadersArg,
        body: bytes | None,
        timeout: float,
        watch_headers: Iterable[str],
        connection_limit: int,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self._base_url = base_url.rstrip("/")
        self._path = path
        self._method = method.upper()
        self._headers = headers
        self._body = body
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._watch = tuple(name.lower() for name in watch_headers)
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self.origin = time.perf_counter()

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(limit=self._connection_limit, ttl_dns_cache=None)
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            raise_for_status=False,
        )
        # See the module docstring: a hidden resend would mask resets.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session
        self.origin = time.perf_counter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _url(self, index: int) -> str:
        path = self._path(index) if callable(self._path) else self._path
        if not path.startswith("/"):
            path = "/" + path
        return self._base_url + path

    def _request_headers(self, index: int) -> Mapping[str, str] | None:
        if callable(self._headers):
            return self._headers(index)
        return self._headers

    async def send(self, index: int) -> ResponseRecord:
        session = self._session
        if session is None:
            raise RuntimeError("the client is not open")
        url = self._url(index)
        headers = self._request_headers(index)
        start = time.perf_counter()
        try:
            async with session.request(
                self._method, url, headers=headers, data=self._body, allow_redirects=False
            ) as response:
                payload = await response.read()
                latency = time.perf_counter() - start
                instance = response.headers.get(INSTANCE_HEADER)
                subset = response.headers.get(SUBSET_HEADER)
                if instance is None or subset is None:
                    identity = _identity_from_body(payload)
                    instance = instance or identity.get("instance")
                    subset = subset or identity.get("subset")
                watched = {
                    name: response.headers[name] for name in self._watch if name in response.headers
                }
                return ResponseRecord(
                    index=index,
                    started=start - self.origin,
                    latency=latency,
                    status=response.status,
                    instance=instance,
                    subset=subset,
                    headers=watched,
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return ResponseRecord(
                index=index,
                started=start - self.origin,
                latency=time.perf_counter() - start,
                error=_classify(exc),
                error_detail=f"{type(exc).__name__}: {exc}",
            )


def _identity_from_body(payload: bytes) -> dict[str, str]:
    """Read instance and subset from a JSON body when a proxy stripped the headers."""
    if not payload.startswith(b"{"):
        return {}
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key in ("instance", "subset") if isinstance(value := data.get(key), str)}


def _classify(exc: BaseException) -> ErrorKind:
    # Order matters: aiohttp's timeout errors are also connection errors, and
    # a refused connect is also an OSError.
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ErrorKind.CONNECT
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientOSError
        | aiohttp.ClientPayloadError
        | ConnectionError,
    ):
        return ErrorKind.RESET
    return ErrorKind.OTHER


def _run_sync(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from synchronous code.

    When the caller's thread already runs a loop (an async test calling the
    sync API), asyncio.run would refuse; a short-lived thread gets its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(factory))
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(_await(factory)))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="traffic")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


async def _await(factory: Callable[[], Awaitable[_T]]) -> _T:
    return await factory()


async def asend_requests(
    base_url: str,
    count: int,
    *,
    path: PathArg = "/",
    method: str = "GET",
    headers: HeadersArg = None,
    body: bytes | None = None,
    concurrency: int = 1,
    timeout: float = 5.0,
    max_duration: float = 60.0,
    watch_headers: Iterable[str] = DEFAULT_WATCH_HEADERS,
) -> TrafficResult:
    """The coroutine behind `send_requests`, for callers already on a loop."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if max_duration <= 0:
        raise ValueError(f"max_duration must be > 0 seconds, got {max_duration}")
    workers = min(concurrency, count)
    records: list[ResponseRecord] = []
    async with _Client(
        base_url,
        path=path,
        method=method,
        headers=headers,
        body=body,
        timeout=timeout,
        watch_headers=watch_headers,
        connection_limit=max(workers, 1),
    ) as client:
        deadline = client.origin + max_duration
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            # Workers pull indices instead of owning a slice, so a slow
            # request never leaves other workers idle and no more than
            # `concurrency` requests are ever open.
            while next_index < count and time.perf_counter() < deadline:
                index = next_index
                next_index += 1
                records.append(await client.send(index))

        await asyncio.gather(*(worker() for _ in range(workers)))
        duration = time.perf_counter() - client.origin
    return TrafficResult(records=tuple(records), duration=duration, not_sent=count - len(records))


def send_requests(
    base_url: str,
    count: int,
    *,
    path: PathArg = "/",
    method: str = "GET",
    headers: HeadersArg = None,
    body: bytes | None = None,
    concurrency: int = 1,
    timeout: float = 5.0,
    max_duration: float = 60.0,
    watch_headers: Iterable[str] = DEFAULT_WATCH_HEADERS,
) -> TrafficResult:
    """Send `count` requests to `base_url` + `path`, at most `concurrency` at a time.

    `headers` is either fixed or a function of the request index (to give
    each request its own `x-request-id`, or a `Host` that picks a virtual
    host). `timeout` bounds each request; `max_duration` bounds the run, and
    requests not started by then are reported as `not_sent`.
    """
    return _run_sync(
        lambda: asend_requests(
            base_url,
            count,
            path=path,
            method=method,
            headers=headers,
            body=body,
            concurrency=concurrency,
            timeout=timeout,
            max_duration=max_duration,
            watch_headers=watch_headers,
        )
    )


class ContinuousTraffic:
    """Requests at a steady rate in a background thread until stopped.

    Used to show that a change (a weight shift, a config push, a backend
    restart) happens under load without errors: start it, make the change,
    stop it, and assert on the result. The rate is a target; when the
    target answers slower than `max_in_flight` allows, sending waits rather
    than piling up, and the schedule restarts from the delay instead of
    bursting to catch up. `max_duration` and `max_requests` stop the thread
    on their own if the caller never does.
    """

    def __init__(
        self,
        base_url: str,
        *,
        rate: float = 50.0,
        path: PathArg = "/",
        method: str = "GET",
        headers: HeadersArg = None,
        body: bytes | None = None,
        timeout: float = 2.0,
        max_in_flight: int = 32,
        max_duration: float = 120.0,
        max_requests: int = 100_000,
        watch_headers: Iterable[str] = DEFAULT_WATCH_HEADERS,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if max_duration <= 0:
            raise ValueError(f"max_duration must be > 0 seconds, got {max_duration}")
        self.rate = rate
        self.max_in_flight = max_in_flight
        self.max_duration = max_duration
        self.max_requests = max_requests
        self._timeout = timeout
        self._client = _Client(
            base_url,
            path=path,
            method=method,
            headers=headers,
            body=body,
            timeout=timeout,
            watch_headers=watch_headers,
            connection_limit=max_in_flight,
        )
        self._records: list[ResponseRecord] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._result: TrafficResult | None = None
        self._failure: BaseException | None = None
        self._started_at = 0.0

    @property
    def completed(self) -> int:
        """Requests finished so far (answered or failed); safe to read while running."""
        return len(self._records)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def result(self) -> TrafficResult:
        if self._result is None:
            raise RuntimeError("the traffic is still running; call stop() first")
        return self._result

    def snapshot(self) -> TrafficResult:
        """The requests finished so far, while traffic keeps flowing."""
        return TrafficResult(
            records=tuple(self._records), duration=time.perf_counter() - self._started_at
        )

    def wait_for(self, completed: int, timeout: float = 10.0) -> None:
        """Block until `completed` requests have finished, so a change happens under load."""
        deadline = time.monotonic() + timeout
        while self.completed < completed:
            if not self.running:
                raise RuntimeError(
                    f"traffic stopped after {self.completed} requests, wanted {completed}"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"only {self.completed} of {completed} requests finished in {timeout} s"
                )
            time.sleep(0.01)

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("the traffic is already started")
        self._started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="continuous-traffic", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise TimeoutError(f"the traffic thread did not start within {_START_TIMEOUT} s")
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> TrafficResult:
        """Stop sending, wait for requests in flight, and return what happened."""
        thread = self._thread
        if thread is None:
            raise RuntimeError("the traffic was never started")
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed on its own meanwhile
                loop.call_soon_threadsafe(stop_event.set)
        # In-flight requests are bounded by the request timeout.
        thread.join(self._timeout + 10.0)
        if thread.is_alive():
            raise TimeoutError("the traffic thread did not stop")
        if self._failure is not None:
            raise self._failure
        return self.result

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._failure = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        stop_event = self._stop_event
        async with self._client as client:
            self._ready.set()
            slots = asyncio.Semaphore(self.max_in_flight)
            tasks: set[asyncio.Task[None]] = set()
            interval = 1.0 / self.rate
            origin = client.origin
            deadline = origin + self.max_duration
            schedule_start, sent = origin, 0

            async def one(index: int) -> None:
                try:
                    self._records.append(await client.send(index))
                finally:
                    slots.release()

            index = 0
            while index < self.max_requests and not stop_event.is_set():
                now = time.perf_counter()
                if now >= deadline:
                    break
                due = schedule_start + sent * interval
                if due > now:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop_event.wait(), min(due, deadline) - now)
                    continue
                if now - due > interval:
                    # Fell behind (slow target, busy machine): pace from now on.
                    schedule_start, sent = now, 0
                await slots.acquire()
                if stop_event.is_set():
                    slots.release()
                    break
                task = asyncio.create_task(one(index))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
                sent += 1
            if tasks:
                await asyncio.gather(*tasks)
            duration = time.perf_counter() - origin
        self._result = TrafficResult(records=tuple(self._records), duration=duration)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._result is None and self._thread is not None:
            self.stop()


__all__ = [
    "CONNECTION_ERRORS",
    "DEFAULT_WATCH_HEADERS",
    "ContinuousTraffic",
    "ErrorKind",
    "HeadersArg",
    "PathArg",
    "ResponseRecord",
    "TrafficResult",
    "asend_requests",
    "send_requests",
]
