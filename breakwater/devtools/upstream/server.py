"""The upstream's HTTP side: served requests, `/health`, binding and shutdown.

This is where a `Plan` becomes what a client sees: a delay, a TCP reset, an
injected status, or an answer that names the instance. Everything that
decides the plan is in `plan`, and `/__control` is in `control`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any, Unpack

from aiohttp import web

from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.upstream.behavior import (
    Behavior,
    BehaviorChanges,
    SeenRequest,
    UpstreamStats,
)
from breakwater.devtools.upstream.control import ControlApi
from breakwater.devtools.upstream.plan import RequestPlanner

HEALTH_PATH = "/health"
INSTANCE_HEADER = "x-instance"
SERVICE_HEADER = "x-service"
SUBSET_HEADER = "x-subset"

# Handlers still sleeping on injected latency would otherwise hold shutdown
# for aiohttp's default 60 s.
_SHUTDOWN_TIMEOUT = 0.5


class Upstream:
    """The server itself, for code that already runs an event loop.

    Synchronous callers (most tests, the demo) want `UpstreamServer`, which
    runs this in a background thread. Behaviour and counters sit in a
    `RequestPlanner`, behind a lock, because they are changed from other
    threads while requests run.
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
        self._planner = RequestPlanner(behavior if behavior is not None else Behavior())
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
        return self._planner.behavior

    def set_behavior(self, behavior: Behavior) -> None:
        """Replace the whole behaviour; restarts the random sequence from its seed."""
        self._planner.set_behavior(behavior)

    def configure(self, **changes: Unpack[BehaviorChanges]) -> Behavior:
        """Change some fields and keep the others; returns the behaviour now in force."""
        return self._planner.configure(**changes)

    def stats(self) -> UpstreamStats:
        return self._planner.stats()

    def reset_stats(self) -> None:
        """Zero the counters and the request sequence, so `fail_every` counts from here."""
        self._planner.reset_stats()

    def seen(self) -> list[SeenRequest]:
        """The last served requests as they arrived (method, path with query, headers)."""
        return self._planner.seen()

    def build_app(self) -> web.Application:
        app = web.Application()
        ControlApi(self._planner, self._identity).add_routes(app)
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

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        plan, behavior = self._planner.admit(request.headers, _as_seen(request))
        try:
            if plan.delay > 0:
                await asyncio.sleep(plan.delay)
            if plan.reset:
                _reset_connection(request)
                self._planner.count_reset()
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
            self._planner.count_status(status)
            return web.json_response(body, status=status, headers=headers)
        finally:
            self._planner.release()

    async def _health(self, request: web.Request) -> web.StreamResponse:
        healthy = self._planner.health_check()
        body = self._identity()
        body["status"] = "ok" if healthy else "failing"
        return web.json_response(
            body, status=200 if healthy else 503, headers=self._identity_headers()
        )


def _as_seen(request: web.Request) -> SeenRequest:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return SeenRequest(request.method, request.path_qs, headers)


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
