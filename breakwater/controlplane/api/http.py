"""The admin port: health, readiness, metrics, status, the weights and drain API over HTTP JSON.

The routes are the operations table's (`table.py`), each answered by the
method of the operation's name. Every answer is one of the API's models as
JSON. Refusals are `{"error": sentence}` with the status the error table gives
(400 for a malformed request or weights a file would also be refused for, 404 for an unknown route or rule,
409 for a stale revision with the current one, 503 when the store cannot
take the write or no policy set is loaded yet, 401 without a needed token). Before any of
that, `browsers` keeps other sites' web pages out: 421 for a Host this port does not answer
to, 403 for another Origin, 415 for a write that is not JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import ValidationError

from breakwater.console import add_console_routes, is_console_path
from breakwater.controlplane.api.browsers import WRITE_METHODS, BrowserGuard
from breakwater.controlplane.api.errors import HANDLED, BadRequest, refusal
from breakwater.controlplane.api.instance_models import RegisterRequest
from breakwater.controlplane.api.models import (
    ApiModel,
    DrainRequest,
    Health,
    SetWeightsRequest,
    StoreStatus,
)
from breakwater.controlplane.api.openapi import openapi_document
from breakwater.controlplane.api.operations import ControlPlaneApi
from breakwater.controlplane.api.rollout_models import ROLLOUT_PHASES
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.api.table import OPEN_PATHS, OPERATIONS
from breakwater.controlplane.listen import CannotListen
from breakwater.controlplane.logs import log_request
from breakwater.controlplane.state.history import HISTORY_LIMIT

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ReadinessCheck = Callable[[], str | None]
"""Returns why the server is not ready, or None when it is."""


def _json(
    answer: ApiModel, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Serialized by Pydantic itself: several times faster than a dict through `json`, which
    counts with the status of thousands of proxies."""
    return web.Response(
        text=answer.model_dump_json(),
        status=status,
        headers=headers,
        content_type="application/json",
    )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HANDLED as exc:
        rule, answer = refusal(exc)
        return _json(answer, rule.http_status, rule.http_headers)


@web.middleware
async def _request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request into the log, with the fields of Envoy's access log lines (see `logs`)."""
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        log_request(
            method=request.method,
            path=request.path_qs,
            authority=request.host,
            status=status,
            started=started,
            user_agent=request.headers.get("User-Agent"),
            request_id=request.headers.get("X-Request-Id"),
            write=request.method in WRITE_METHODS,
        )


def _optional_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRequest(f"`{name}` must be a whole number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"`{name}` must be a whole number, got {value!r}") from None


def _rule(value: Any) -> int | str | None:
    """A rule named by its index (a whole number, in a query as text) or by its name."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return int(value) if value.lstrip("-").isdigit() else value
    raise BadRequest(f"`rule` must be a rule's name or index, got {value!r}")


_BODY_FIELDS = SetWeightsRequest.accepted_fields()


def _auth(security: SecurityConfig) -> Any:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS and not is_console_path(request.path):
            security.authorize(
                request.headers.get("Authorization"), write=request.method in WRITE_METHODS
            )
        return await handler(request)

    return check


def _browsers(guard: BrowserGuard) -> tuple[Any, Any]:
    """Host and Origin are checked before the token, the type of a write after it (a write
    without the token hears about the token first)."""

    @web.middleware
    async def site(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard.check_site(request)
        return await handler(request)

    @web.middleware
    async def json_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard.check_json(request)
        return await handler(request)

    return site, json_writes


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
        self.guard = BrowserGuard(self.security.admin_hosts)
        site, json_writes = _browsers(self.guard)
        self.app = web.Application(
            middlewares=[_request_log, _errors, site, _auth(self.security), json_writes],
            client_max_size=1024 * 1024,
        )
        self.app.add_routes(
            web.get(op.path, getattr(self, op.name))
            if op.method == "get"
            else web.route(op.method.upper(), op.path, getattr(self, op.name))
            for op in OPERATIONS
        )
        add_console_routes(self.app)

    store_status: Callable[[], dict[str, Any]] | None = None
    """The state store's health. An unavailable store does not make the server unready: the
    last state read keeps serving (every replica would go unready together otherwise)."""

    def _store(self) -> StoreStatus | None:
        if self.store_status is None:
            return None
        status = StoreStatus.model_validate(self.store_status())
        if self.security.protect_reads:  # probes are open: no addresses or errors for strangers
            return StoreStatus(available=status.available)
        return status

    async def healthz(self, request: web.Request) -> web.Response:
        return _json(Health(status="ok", store=self._store()))

    async def readyz(self, request: web.Request) -> web.Response:
        reason = self.readiness()
        if reason is not None:
            return _json(Health(status="not ready", reason=reason, store=self._store()), 503)
        return _json(Health(status="ready", store=self._store()))

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def status(self, request: web.Request) -> web.Response:
        return _json(self.api.status())

    async def snapshots(self, request: web.Request) -> web.Response:
        return _json(self.api.served())

    async def policies(self, request: web.Request) -> web.Response:
        return _json(self.api.policies())

    async def policy(self, request: web.Request) -> web.Response:
        return _json(self.api.policy(request.match_info["name"]))

    async def list_rollouts(self, request: web.Request) -> web.Response:
        return _json(self.api.list_rollouts())

    async def rollout(self, request: web.Request) -> web.Response:
        return _json(self.api.rollout(request.match_info["name"]))

    async def rollout_command(self, request: web.Request) -> web.Response:
        info = request.match_info
        step = _optional_int(request.query.get("expectedStep"), "expectedStep")
        phase = request.query.get("expectedPhase") or None
        if phase is not None and phase not in ROLLOUT_PHASES:
            raise BadRequest(
                f"`expectedPhase` must be one of {', '.join(ROLLOUT_PHASES)}, got {phase!r}"
            )
        return _json(await self.api.rollout_command(info["name"], info["command"], phase, step))

    async def routes(self, request: web.Request) -> web.Response:
        return _json(self.api.routes())

    async def explain(self, request: web.Request) -> web.Response:
        return _json(self.api.explain(request.match_info["service"]))

    async def get_weights(self, request: web.Request) -> web.Response:
        rule = _rule(request.query.get("rule"))
        return _json(self.api.get_weights(request.match_info["route"], rule))

    async def set_weights(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise BadRequest(
                'the body must be JSON like {"weights": {"stable": 75, "canary": 25}, "rule": "split"}'
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("weights"), dict):
            raise BadRequest(
                'the body must be a JSON object with "weights": {"<backend>": <weight>, ...}'
            )
        unknown = sorted(set(body) - _BODY_FIELDS)
        if unknown:
            raise BadRequest(
                f"unknown field(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(SetWeightsRequest.documented_fields())}"
            )
        weights: dict[str, int] = {}
        for label, weight in body["weights"].items():
            if isinstance(weight, bool) or not isinstance(weight, int):
                raise BadRequest(
                    f"weight of {label!r} is {weight!r}; use a whole number of 0 or more"
                )
            weights[str(label)] = weight
        rule = _rule(body.get("rule"))
        expected = _optional_int(
            body.get("expectedRevision", body.get("expected_revision")), "expectedRevision"
        )
        result = await self.api.set_weights(
            request.match_info["route"], rule, weights, expected, _who(request)
        )
        return _json(result)

    async def reset_weights(self, request: web.Request) -> web.Response:
        rule = _rule(request.query.get("rule"))
        expected = _optional_int(request.query.get("expectedRevision"), "expectedRevision")
        result = await self.api.reset_weights(
            request.match_info["route"], rule, expected, _who(request)
        )
        return _json(result)

    async def endpoints(self, request: web.Request) -> web.Response:
        return _json(self.api.endpoints(request.match_info["service"]))

    async def drain(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = DrainRequest.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            raise BadRequest(
                'the body must be empty or JSON like {"expectedRevision": 3}: '
                + exc.errors()[0]["msg"]
            ) from None
        info = request.match_info
        result = await self.api.drain(
            info["service"], info["endpoint"], body.expected_revision, _who(request)
        )
        return _json(result)

    async def undrain(self, request: web.Request) -> web.Response:
        expected = _optional_int(request.query.get("expectedRevision"), "expectedRevision")
        info = request.match_info
        return _json(
            await self.api.undrain(info["service"], info["endpoint"], expected, _who(request))
        )

    async def list_instances(self, request: web.Request) -> web.Response:
        return _json(await self.api.list_instances(request.match_info["service"]))

    async def register_instance(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = RegisterRequest.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            raise BadRequest(_body_error(exc)) from None
        info = request.match_info
        return _json(
            await self.api.register_instance(info["service"], info["instance"], body, _who(request))
        )

    async def deregister_instance(self, request: web.Request) -> web.Response:
        info = request.match_info
        return _json(
            await self.api.deregister_instance(info["service"], info["instance"], _who(request))
        )

    async def changes(self, request: web.Request) -> web.Response:
        limit = _optional_int(request.query.get("limit"), "limit")
        if limit is not None and not 1 <= limit <= HISTORY_LIMIT:
            raise BadRequest(f"`limit` must be between 1 and {HISTORY_LIMIT}, got {limit}")
        return _json(await self.api.changes(request.query.get("route") or None, limit or 100))


def _body_error(exc: ValidationError) -> str:
    """The first thing wrong with a registration's body, by field, and what the body takes."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "the body"
    message = str(error["msg"]).removeprefix("Value error, ")
    return (
        f"`{where}`: {message}; the body is JSON like "
        '{"labels": {"track": "canary"}, "zone": "eu-1a", "weight": 1, "ttl": "30s"} '
        "(every field optional)"
    )


def _who(request: web.Request) -> str:
    """Who made a write, for the history: the token's holder at an address, or the address."""
    peer = request.remote or "unknown"
    return f"token@{peer}" if request.headers.get("Authorization") else peer


async def start_admin(app: AdminApp, host: str, port: int) -> web.AppRunner:
    app.guard.listen_on(host)
    runner = web.AppRunner(app.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=app.security.admin_ssl_context())
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise CannotListen("the admin API", host, port, "--admin-address") from None
    return runner
