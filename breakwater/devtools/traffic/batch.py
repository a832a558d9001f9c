"""A fixed number of requests, at most so many at a time, bounded in time.

Most claims are about a batch ("of 200 requests, a quarter reached the
canary"); this sends one and returns when every request has an outcome or
the time bound cut the rest off. The API is synchronous because tests and
the demo are, with the coroutine beside it for callers already on a loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from breakwater.devtools.traffic.client import (
    DEFAULT_WATCH_HEADERS,
    HeadersArg,
    PathArg,
    TrafficClient,
)
from breakwater.devtools.traffic.results import ResponseRecord, TrafficResult

_T = TypeVar("_T")


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
    async with TrafficClient(
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
