"""Requests at a steady rate, in a background thread, until stopped.

The claims a batch cannot make are about a change under load: a weight
shift, a config push or a backend restart with no errors while traffic
keeps flowing. This runs on a loop of its own so that the caller can make
the change meanwhile, and stops by itself if the caller never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from breakwater.devtools.traffic.client import (
    DEFAULT_WATCH_HEADERS,
    HeadersArg,
    PathArg,
    TrafficClient,
)
from breakwater.devtools.traffic.results import ResponseRecord, TrafficResult

_START_TIMEOUT = 10.0


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
        self._client = TrafficClient(
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
