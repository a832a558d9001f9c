"""`/__control`: the upstream's behaviour and counters over HTTP.

The demo and tests that run the upstream as a separate process cannot call
Python methods on it; these routes offer the same operations (read, change
some fields, replace the whole behaviour, zero the counters, list the
requests as they arrived) as JSON. They
are never subject to injected faults and are not counted as served requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from breakwater.devtools.upstream.plan import RequestPlanner

CONTROL_PATH = "/__control"
CONTROL_RESET_PATH = "/__control/reset"


class ControlApi:
    """The control routes of one upstream, answering with its identity, behaviour and stats."""

    def __init__(self, planner: RequestPlanner, identity: Callable[[], dict[str, Any]]) -> None:
        self._planner = planner
        self._identity = identity

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", CONTROL_PATH, self._get)
        app.router.add_route("POST", CONTROL_PATH, self._update)
        app.router.add_route("PUT", CONTROL_PATH, self._replace)
        app.router.add_route("POST", CONTROL_RESET_PATH, self._reset)

    def _state(self) -> dict[str, Any]:
        state = self._identity()
        state["behavior"] = self._planner.behavior.to_json()
        state["stats"] = self._planner.stats().to_json()
        state["seen"] = [request.to_json() for request in self._planner.seen()]
        return state

    async def _get(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._state())

    async def _update(self, request: web.Request) -> web.StreamResponse:
        return await self._write(request, replace=False)

    async def _replace(self, request: web.Request) -> web.StreamResponse:
        return await self._write(request, replace=True)

    async def _write(self, request: web.Request, *, replace: bool) -> web.StreamResponse:
        try:
            data = json.loads(await request.read() or b"{}")
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object of behavior fields")
            self._planner.update_from_json(data, replace=replace)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self._state())

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        self._planner.reset_stats()
        return web.json_response(self._state())
