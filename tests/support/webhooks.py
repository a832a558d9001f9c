"""A real webhook receiver for rollout tests: an aiohttp server on 127.0.0.1.

It runs on the test's own event loop, so the rollout driver under test calls it
over a real socket while the test steers it: how long each path takes to answer,
with which status, body or redirect. Every call is kept, and so is the moment
each one was answered, so a test can act while the driver waits on a hook.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

from breakwater.devtools.ports import LOOPBACK


@dataclass
class Reply:
    """How the server answers one path."""

    status: int = 200
    delay: float = 0.0
    """Seconds to sleep before answering."""
    body: str = ""
    location: str | None = None
    """A `Location` header (with a 3xx status: a redirect)."""


@dataclass(frozen=True)
class Call:
    path: str
    body: dict[str, Any]
    at: float
    """Monotonic time the request arrived."""


@dataclass
class HookServer:
    replies: dict[str, Reply] = field(default_factory=dict)
    """Path → how to answer it; other paths answer 200 at once."""
    calls: list[Call] = field(default_factory=list)
    answered: list[Call] = field(default_factory=list)
    """Calls in the order their answers were sent."""
    port: int = 0

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    async def wait_for_call(self, path: str, count: int = 1, timeout: float = 10.0) -> Call:
        """The `count`-th call of `path`, once it arrived."""
        deadline = time.monotonic() + timeout
        while len(self.calls_to(path)) < count:
            assert time.monotonic() < deadline, f"{path} not called {count} times in {timeout} s"
            await asyncio.sleep(0.01)
        return self.calls_to(path)[count - 1]

    async def wait_answered(self, call: Call, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while call not in self.answered:
            assert time.monotonic() < deadline, f"{call.path} not answered in {timeout} s"
            await asyncio.sleep(0.01)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        call = Call(request.path, json.loads(raw) if raw else {}, time.monotonic())
        self.calls.append(call)
        reply = self.replies.get(request.path, Reply())
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            self.answered.append(call)
        headers = {"Location": reply.location} if reply.location else None
        return web.Response(status=reply.status, text=reply.body, headers=headers)
