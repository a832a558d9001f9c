"""An HTTP upstream that misbehaves when told to.

Resilience policies only show their worth against a backend that fails:
outlier detection needs 5xx, retries need resets and slow first attempts,
health checks need a `/health` that can flip, and canary routing needs every
answer to say which instance produced it. This server does all of that, and
its behaviour can change while traffic flows (from Python or over HTTP at
`/__control`) so that tests and the demo can break a backend mid-run and
watch Envoy react.

Every response carries `x-instance`, `x-service` and `x-subset` headers and a
JSON body with the same names. Requests to `/__control` and `/health` are
never subject to injected faults and are not counted as served requests.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import signal
import socket
import struct
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

from aiohttp import web

from breakwater.devtools.ports import LOOPBACK

CONTROL_PATH = "/__control"
CONTROL_RESET_PATH = "/__control/reset"
HEALTH_PATH = "/health"
INSTANCE_HEADER = "x-instance"
SERVICE_HEADER = "x-service"
SUBSET_HEADER = "x-subset"
DEFAULT_FIRST_ATTEMPT_HEADER = "x-request-id"

# A retry reuses the request id of the first attempt, so the ids already seen
# must be remembered; the bound keeps a long benchmark from growing memory.
_SEEN_IDS_LIMIT = 100_000
# Handlers still sleeping on injected latency would otherwise hold shutdown
# for aiohttp's default 60 s.
_SHUTDOWN_TIMEOUT = 0.5
_START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Behavior:
    """How the upstream treats the next requests.

    Faults are decided when a request arrives, from its sequence number
    among served requests (1-based), so `fail_every=2` fails exactly every
    second request even when requests overlap. When a request is chosen for
    both a reset and a failure, the reset wins.

    `first_attempt_delay` delays only the first request carrying a given
    value of `first_attempt_header` (optionally only the listed values); a
    retry of that request, which Envoy sends with the same `x-request-id`,
    is answered at once. That is what a per-try timeout test needs. The
    memory of seen values is per instance: a retry that Envoy sends to a
    different host is that host's first sighting and is delayed as well.
    """

    fail_fraction: float = 0.0
    fail_every: int = 0
    fail_status: int = 503
    latency: float = 0.0
    first_attempt_delay: float = 0.0
    first_attempt_header: str = DEFAULT_FIRST_ATTEMPT_HEADER
    first_attempt_values: tuple[str, ...] = ()
    reset_fraction: float = 0.0
    reset_every: int = 0
    healthy: bool = True
    response_headers: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("fail_fraction", "reset_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("fail_every", "reset_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 turns it off)")
        for name in ("latency", "first_attempt_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds")
        if not 100 <= self.fail_status <= 599:
            raise ValueError(f"fail_status must be an HTTP status, got {self.fail_status}")
        if not self.first_attempt_header:
            raise ValueError("first_attempt_header must not be empty")
        # Lists arrive from JSON and from callers; a tuple keeps the value frozen.
        object.__setattr__(self, "first_attempt_values", tuple(self.first_attempt_values))
        object.__setattr__(self, "response_headers", dict(self.response_headers))

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["first_attempt_values"] = list(self.first_attempt_values)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], base: Behavior | None = None) -> Behavior:
        """Build a behaviour from decoded JSON, on top of `base` (defaults if absent).

        JSON gives no type guarantees, so every value is checked here; a
        wrong field name is an error rather than silently ignored, because a
        typo in a demo script would otherwise leave the fault off.
        """
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in _FIELD_CHECKS:
                known = ", ".join(sorted(_FIELD_CHECKS))
                raise ValueError(f"unknown behavior field {key!r}; known fields: {known}")
            changes[key] = _FIELD_CHECKS[key](key, value)
        return dataclasses.replace(base if base is not None else cls(), **changes)


class BehaviorChanges(TypedDict, total=False):
    """Keyword arguments accepted by `configure`: any subset of `Behavior`'s fields."""

    fail_fraction: float
    fail_every: int
    fail_status: int
    latency: float
    first_attempt_delay: float
    first_attempt_header: str
    first_attempt_values: tuple[str, ...]
    reset_fraction: float
    reset_every: int
    healthy: bool
    response_headers: Mapping[str, str]
    seed: int | None


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _as_optional_int(name: str, value: Any) -> int | None:
    return None if value is None else _as_int(name, value)


def _as_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _as_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def _as_str_tuple(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    return tuple(value)


def _as_str_map(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{name} must be an object of string values, got {value!r}")
    return dict(value)


_FIELD_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "fail_fraction": _as_float,
    "fail_every": _as_int,
    "fail_status": _as_int,
    "latency": _as_float,
    "first_attempt_delay": _as_float,
    "first_attempt_header": _as_str,
    "first_attempt_values": _as_str_tuple,
    "reset_fraction": _as_float,
    "reset_every": _as_int,
    "healthy": _as_bool,
    "response_headers": _as_str_map,
    "seed": _as_optional_int,
}
assert set(_FIELD_CHECKS) == {f.name for f in dataclasses.fields(Behavior)}


@dataclass(frozen=True)
class UpstreamStats:
    """Counters since start or the last reset.

    `requests` counts every served request, including those answered with an
    injected failure or reset; `by_status` counts responses actually sent.
    `max_in_flight` is the highest number of requests held at once, which is
    how a test sees that a concurrency limit upstream of this server held.
    """

    requests: int = 0
    by_status: Mapping[int, int] = field(default_factory=dict)
    resets: int = 0
    delayed_first_attempts: int = 0
    health_checks: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def status(self, code: int) -> int:
        return self.by_status.get(code, 0)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["by_status"] = {str(code): count for code, count in self.by_status.items()}
        return data


@dataclass(frozen=True)
class _Plan:
    sequence: int
    delay: float
    reset: bool
    fail: bool
    delayed_first_attempt: bool


class Upstream:
    """The server itself, for code that already runs an event loop.

    Synchronous callers (most tests, the demo) want `UpstreamServer`, which
    runs this in a background thread. Behaviour and counters sit behind a
    lock because they are changed from other threads while requests run.
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
    ) -> None:
        self.service = service
        self.subset = subset
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._instance = instance
        self._lock = threading.Lock()
        self._behavior = behavior if behavior is not None else Behavior()
        self._rng = random.Random(self._behavior.seed)
        self._seen_ids: OrderedDict[str, None] = OrderedDict()
        self._sequence = 0
        self._stats = _MutableStats()
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the upstream is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def instance(self) -> str:
        """The name in every response; defaults to service-subset-port, unique per machine."""
        if self._instance is not None:
            return self._instance
        return f"{self.service}-{self.subset}-{self.port}"

    @property
    def behavior(self) -> Behavior:
        return self._behavior

    def set_behavior(self, behavior: Behavior) -> None:
        """Replace the whole behaviour; restarts the random sequence from its seed."""
        with self._lock:
            self._apply(behavior, reseed=True)

    def configure(self, **changes: Unpack[BehaviorChanges]) -> Behavior:
        """Change some fields and keep the others; returns the behaviour now in force."""
        with self._lock:
            behavior = dataclasses.replace(self._behavior, **changes)
            self._apply(behavior, reseed="seed" in changes)
            return behavior

    def _apply(self, behavior: Behavior, *, reseed: bool) -> None:
        # Reseeding only when asked keeps a seeded run reproducible across
        # unrelated changes such as toggling health mid-test.
        if reseed:
            self._rng = random.Random(behavior.seed)
        if (
            behavior.first_attempt_header != self._behavior.first_attempt_header
            or behavior.first_attempt_values != self._behavior.first_attempt_values
            or behavior.first_attempt_delay != self._behavior.first_attempt_delay
        ):
            self._seen_ids.clear()
        self._behavior = behavior

    def stats(self) -> UpstreamStats:
        with self._lock:
            return self._stats.freeze()

    def reset_stats(self) -> None:
        """Zero the counters and the request sequence, so `fail_every` counts from here."""
        with self._lock:
            in_flight = self._stats.in_flight
            self._stats = _MutableStats(in_flight=in_flight, max_in_flight=in_flight)
            self._sequence = 0
            self._seen_ids.clear()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("GET", CONTROL_PATH, self._control_get)
        app.router.add_route("POST", CONTROL_PATH, self._control_update)
        app.router.add_route("PUT", CONTROL_PATH, self._control_replace)
        app.router.add_route("POST", CONTROL_RESET_PATH, self._control_reset)
        app.router.add_route("*", HEALTH_PATH, self._health)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    async def start(self) -> int:
        """Bind and serve; returns the port (chosen by the kernel when port was 0)."""
        if self._runner is not None:
            raise RuntimeError("the upstream is already started")
        runner = web.AppRunner(
            self.build_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            # Hundreds of clients may connect at once; the default backlog of
            # 128 would make some of them wait for a SYN retransmit.
            site = web.TCPSite(runner, self.host, self._requested_port, backlog=1024)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self._port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _identity_headers(self) -> dict[str, str]:
        return {
            INSTANCE_HEADER: self.instance,
            SERVICE_HEADER: self.service,
            SUBSET_HEADER: self.subset,
        }

    def _identity(self) -> dict[str, Any]:
        return {"service": self.service, "subset": self.subset, "instance": self.instance}

    def _admit(self, request: web.Request) -> tuple[_Plan, Behavior]:
        with self._lock:
            behavior = self._behavior
            self._sequence += 1
            sequence = self._sequence
            stats = self._stats
            stats.requests += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            reset = _chosen(sequence, behavior.reset_every, behavior.reset_fraction, self._rng)
            fail = _chosen(sequence, behavior.fail_every, behavior.fail_fraction, self._rng)
            delayed = self._first_sighting(request, behavior)
            if delayed:
                stats.delayed_first_attempts += 1
        delay = behavior.latency + (behavior.first_attempt_delay if delayed else 0.0)
        return _Plan(sequence, delay, reset, fail and not reset, delayed), behavior

    def _first_sighting(self, request: web.Request, behavior: Behavior) -> bool:
        if behavior.first_attempt_delay <= 0:
            return False
        value = request.headers.get(behavior.first_attempt_header)
        if value is None:
            return False
        if behavior.first_attempt_values and value not in behavior.first_attempt_values:
            return False
        if value in self._seen_ids:
            return False
        self._seen_ids[value] = None
        if len(self._seen_ids) > _SEEN_IDS_LIMIT:
            self._seen_ids.popitem(last=False)
        return True

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        plan, behavior = self._admit(request)
        try:
            if plan.delay > 0:
                await asyncio.sleep(plan.delay)
            if plan.reset:
                _reset_connection(request)
                with self._lock:
                    self._stats.resets += 1
                # Nothing reaches the client: the transport is already gone.
                return web.Response(status=500)
            status = behavior.fail_status if plan.fail else 200
            body = self._identity()
            body.update(
                path=request.path,
                method=request.method,
                sequence=plan.sequence,
                request_id=request.headers.get("x-request-id"),
                attempt=request.headers.get("x-envoy-attempt-count"),
                delayed_first_attempt=plan.delayed_first_attempt,
            )
            if plan.fail:
                body["error"] = "injected failure"
            headers = dict(behavior.response_headers)
            headers.update(self._identity_headers())
            with self._lock:
                self._stats.count_status(status)
            return web.json_response(body, status=status, headers=headers)
        finally:
            with self._lock:
                self._stats.in_flight -= 1

    async def _health(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self._stats.health_checks += 1
            healthy = self._behavior.healthy
        body = self._identity()
        body["status"] = "ok" if healthy else "failing"
        return web.json_response(
            body, status=200 if healthy else 503, headers=self._identity_headers()
        )

    def _control_state(self) -> dict[str, Any]:
        state = self._identity()
        state["behavior"] = self.behavior.to_json()
        state["stats"] = self.stats().to_json()
        return state

    async def _control_get(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._control_state())

    async def _control_update(self, request: web.Request) -> web.StreamResponse:
        return await self._control_write(request, replace=False)

    async def _control_replace(self, request: web.Request) -> web.StreamResponse:
        return await self._control_write(request, replace=True)

    async def _control_write(self, request: web.Request, *, replace: bool) -> web.StreamResponse:
        try:
            data = json.loads(await request.read() or b"{}")
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object of behavior fields")
            with self._lock:
                behavior = Behavior.from_json(data, None if replace else self._behavior)
                self._apply(behavior, reseed=replace or "seed" in data)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self._control_state())

    async def _control_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset_stats()
        return web.json_response(self._control_state())


@dataclass
class _MutableStats:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    resets: int = 0
    delayed_first_attempts: int = 0
    health_checks: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def count_status(self, status: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def freeze(self) -> UpstreamStats:
        return UpstreamStats(
            requests=self.requests,
            by_status=dict(self.by_status),
            resets=self.resets,
            delayed_first_attempts=self.delayed_first_attempts,
            health_checks=self.health_checks,
            in_flight=self.in_flight,
            max_in_flight=self.max_in_flight,
        )


def _chosen(sequence: int, every: int, fraction: float, rng: random.Random) -> bool:
    if every > 0 and sequence % every == 0:
        return True
    # Draw only when a fraction is set, so a seeded run stays reproducible
    # regardless of which other faults are on.
    return fraction > 0 and rng.random() < fraction


def _reset_connection(request: web.Request) -> None:
    """Drop the connection with a TCP RST, as a crashing backend would.

    A zero linger time turns close() into a reset; Envoy then reports an
    upstream reset (`retry_on: reset`) rather than a clean end of stream.
    """
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


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


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m breakwater.devtools.upstream",
        description="An HTTP upstream that names itself in every response and fails on request.",
    )
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=0, help="0 lets the kernel choose")
    parser.add_argument("--service", default="upstream")
    parser.add_argument("--subset", default="default")
    parser.add_argument("--instance", default=None, help="default: SERVICE-SUBSET-PORT")
    parser.add_argument("--fail-fraction", type=float, default=0.0)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument("--reset-fraction", type=float, default=0.0)
    parser.add_argument("--reset-every", type=int, default=0)
    parser.add_argument("--unhealthy", action="store_true", help="/health answers 503")
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


async def _serve_until_signalled(upstream: Upstream) -> None:
    await upstream.start()
    # The demo reads this line to learn the port when it asked for port 0.
    print(f"upstream {upstream.instance} listening on {upstream.url}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await upstream.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        behavior = Behavior(
            fail_fraction=args.fail_fraction,
            fail_every=args.fail_every,
            fail_status=args.fail_status,
            latency=args.latency,
            reset_fraction=args.reset_fraction,
            reset_every=args.reset_every,
            healthy=not args.unhealthy,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    upstream = Upstream(
        service=args.service,
        subset=args.subset,
        instance=args.instance,
        host=args.host,
        port=args.port,
        behavior=behavior,
    )
    asyncio.run(_serve_until_signalled(upstream))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
