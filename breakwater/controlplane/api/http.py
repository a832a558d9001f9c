"""The admin port: health, readiness, metrics, status and the weights API over HTTP JSON.

Errors are JSON `{"error": sentence}` with the status that says whose fault
it was: 400 for weights a file would also be refused for, 404 for an unknown
route or rule, 409 for a stale revision (with the current one), 503 when
the store cannot take the write or no policy set is loaded yet.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from breakwater.controlplane.api.openapi import OPENAPI
from breakwater.controlplane.api.operations import ControlPlaneApi
from breakwater.controlplane.api.security import UNAUTHORIZED, SecurityConfig
from breakwater.controlplane.fleet.status import PolicyNotFound
from breakwater.controlplane.state.controller import NotReady
from breakwater.controlplane.state.store import RevisionConflict, StoreError
from breakwater.translators.overrides import RouteNotFound, WeightError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ReadinessCheck = Callable[[], str | None]
"""Returns why the server is not ready, or None when it is."""


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RevisionConflict as exc:
        return _error(409, str(exc), current_revision=exc.current)
    except RouteNotFound as exc:
        return _error(404, str(exc))
    except WeightError as exc:
        return _error(400, str(exc))
    except NotReady as exc:
        return _error(503, str(exc))
    except StoreError as exc:
        return _error(503, f"the write was not saved: {exc}")


def _optional_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise WeightError(f"`{name}` must be a whole number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise WeightError(f"`{name}` must be a whole number, got {value!r}") from None


_OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_WRITE_METHODS = frozenset({"PUT", "POST", "DELETE", "PATCH"})


def _auth(security: SecurityConfig) -> Any:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in _OPEN_PATHS and not security.authorized(
            request.headers.get("Authorization"), write=request.method in _WRITE_METHODS
        ):
            return web.json_response(
                {"error": UNAUTHORIZED}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    return check


class AdminApp:
    def __init__(
        self,
        api: ControlPlaneApi,
        registry: CollectorRegistry,
        readiness: ReadinessCheck,
        security: SecurityConfig | None = None,
    ) -> None:
        self.api = api
        self.registry = registry
        self.readiness = readiness
        self.security = security or SecurityConfig()
        self.app = web.Application(
            middlewares=[_auth(self.security), _errors], client_max_size=1024 * 1024
        )
        self.app.add_routes(
            [
                web.get("/healthz", self.healthz),
                web.get("/readyz", self.readyz),
                web.get("/metrics", self.metrics),
                web.get("/openapi.json", self.openapi),
                web.get("/v1/status", self.status),
                web.get("/v1/policies", self.policies),
                web.get("/v1/policies/{name}", self.policy),
                web.get("/v1/routes/{route}/weights", self.get_weights),
                web.put("/v1/routes/{route}/weights", self.set_weights),
                web.delete("/v1/routes/{route}/weights", self.reset_weights),
            ]
        )

    store_status: Callable[[], dict[str, Any]] | None = None
    """The state store's health. An unavailable store does not make the server unready: the
    last state read keeps serving (every replica would go unready together otherwise)."""

    def _store(self) -> dict[str, Any]:
        if self.store_status is None:
            return {}
        status = self.store_status()
        if self.security.protect_reads:  # probes are open: no addresses or errors for strangers
            status = {"available": status.get("available", True)}
        return {"store": status}

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **self._store()})

    async def readyz(self, request: web.Request) -> web.Response:
        reason = self.readiness()
        if reason is not None:
            return web.json_response(
                {"status": "not ready", "reason": reason, **self._store()}, status=503
            )
        return web.json_response({"status": "ready", **self._store()})

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self.api.status())

    async def policies(self, request: web.Request) -> web.Response:
        return web.json_response({"policies": self.api.policies()})

    async def policy(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.api.policy(request.match_info["name"]))
        except PolicyNotFound as exc:
            return _error(404, str(exc))

    async def get_weights(self, request: web.Request) -> web.Response:
        rule = _optional_int(request.query.get("rule"), "rule")
        return web.json_response(self.api.get_weights(request.match_info["route"], rule))

    async def set_weights(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise WeightError(
                'the body must be JSON like {"weights": {"stable": 75, "canary": 25}, "rule": 0}'
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("weights"), dict):
            raise WeightError(
                'the body must be a JSON object with "weights": {"<backend>": <weight>, ...}'
            )
        unknown = sorted(set(body) - {"weights", "rule", "expected_revision", "expectedRevision"})
        if unknown:
            raise WeightError(
                f"unknown field(s) {', '.join(unknown)}; allowed: weights, rule, expectedRevision"
            )
        weights: dict[str, int] = {}
        for label, weight in body["weights"].items():
            if isinstance(weight, bool) or not isinstance(weight, int):
                raise WeightError(
                    f"weight of {label!r} is {weight!r}; use a whole number of 0 or more"
                )
            weights[str(label)] = weight
        rule = _optional_int(body.get("rule"), "rule")
        expected = _optional_int(
            body.get("expectedRevision", body.get("expected_revision")), "expectedRevision"
        )
        result = await self.api.set_weights(request.match_info["route"], rule, weights, expected)
        return web.json_response(result)

    async def reset_weights(self, request: web.Request) -> web.Response:
        rule = _optional_int(request.query.get("rule"), "rule")
        expected = _optional_int(request.query.get("expectedRevision"), "expectedRevision")
        result = await self.api.reset_weights(request.match_info["route"], rule, expected)
        return web.json_response(result)


async def start_admin(app: AdminApp, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=app.security.admin_ssl_context())
    await site.start()
    return runner
