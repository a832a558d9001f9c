"""One table from the exceptions the API raises to what each front end answers.

HTTP answers the rule's status with the `ErrorResponse` as JSON; gRPC
aborts with the rule's code and the same answer as text. The OpenAPI
document describes each status with the rule's `meaning`. A refusal is
therefore added or reworded here, once, for all three.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from breakwater.controlplane.api.browsers import ForeignOrigin, MisdirectedHost, NotJson
from breakwater.controlplane.api.models import ErrorResponse
from breakwater.controlplane.api.security import Unauthorized
from breakwater.controlplane.fleet.status import PolicyNotFound
from breakwater.controlplane.rollouts.driver import RolloutNotFound
from breakwater.controlplane.rollouts.engine import CommandRefused, RolloutMoved
from breakwater.controlplane.state.controller import DrivenByRollout, NotReady
from breakwater.controlplane.state.registry import (
    InstanceLimit,
    NotRegistrable,
    RegistrationError,
)
from breakwater.controlplane.state.store import RevisionConflict, StoreError
from breakwater.translators.drains import DrainError, EndpointNotFound
from breakwater.translators.overrides import RouteNotFound, WeightError


class BadRequest(ValueError):
    """A parameter or body the operation does not take: not a whole number, not JSON, an unknown
    field. What the request asks for is judged by the operation's own errors."""


def _sentence(exc: Exception) -> ErrorResponse:
    return ErrorResponse(error=str(exc))


def _stale(exc: RevisionConflict) -> ErrorResponse:
    return ErrorResponse(error=str(exc), current_revision=exc.current)


def _not_saved(exc: StoreError) -> ErrorResponse:
    return ErrorResponse(error=f"the write was not saved: {exc}")


@dataclass(frozen=True)
class ErrorRule:
    http_status: int
    grpc_code: grpc.StatusCode
    meaning: str
    """What the status means, for the OpenAPI document."""
    answer: Callable[[Any], ErrorResponse]
    """The answer for an exception of the rule's type (`_rule` checks the pairing)."""
    http_headers: Mapping[str, str]


E = TypeVar("E", bound=Exception)


def _rule(
    kind: type[E],
    http_status: int,
    grpc_code: grpc.StatusCode,
    meaning: str,
    answer: Callable[[E], ErrorResponse] = _sentence,
    http_headers: Mapping[str, str] | None = None,
) -> tuple[type[Exception], ErrorRule]:
    return kind, ErrorRule(http_status, grpc_code, meaning, answer, http_headers or {})


ERRORS: Mapping[type[Exception], ErrorRule] = dict(
    [
        _rule(
            Unauthorized,
            401,
            grpc.StatusCode.UNAUTHENTICATED,
            "a token is needed (for writes once the server has --token-file, for reads too "
            "with --protect-reads), or the token sent is not the server's",
            http_headers={"WWW-Authenticate": "Bearer"},
        ),
        _rule(
            MisdirectedHost,
            421,
            grpc.StatusCode.PERMISSION_DENIED,
            "the Host header names neither this server's address nor a name given with "
            "--admin-host (DNS rebinding guard)",
        ),
        _rule(
            ForeignOrigin,
            403,
            grpc.StatusCode.PERMISSION_DENIED,
            "the Origin header names another site than this server's own",
        ),
        _rule(
            NotJson,
            415,
            grpc.StatusCode.INVALID_ARGUMENT,
            "a write was not sent as Content-Type: application/json",
        ),
        _rule(
            BadRequest,
            400,
            grpc.StatusCode.INVALID_ARGUMENT,
            "a malformed request: a parameter or body that is not what the operation takes",
        ),
        _rule(
            WeightError,
            400,
            grpc.StatusCode.INVALID_ARGUMENT,
            "weights refused (unknown backend, negative weight, zero sum)",
        ),
        _rule(RouteNotFound, 404, grpc.StatusCode.NOT_FOUND, "no such route or rule"),
        _rule(
            DrainError,
            400,
            grpc.StatusCode.INVALID_ARGUMENT,
            "the endpoint is not written as ADDRESS:PORT",
        ),
        _rule(
            EndpointNotFound,
            404,
            grpc.StatusCode.NOT_FOUND,
            "no such service, or the service has no such endpoint (the answer lists its endpoints)",
        ),
        _rule(
            RegistrationError,
            400,
            grpc.StatusCode.INVALID_ARGUMENT,
            "the instance is not written as an IP address and a port from 1 to 65535, or its "
            "labels or TTL are out of bounds, or it is a static endpoint of the Service",
        ),
        _rule(
            NotRegistrable,
            409,
            grpc.StatusCode.FAILED_PRECONDITION,
            "the Service takes no registrations (the answer says how it could)",
        ),
        _rule(
            InstanceLimit,
            429,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "the Service holds as many instances as its registration.maxInstances",
        ),
        _rule(
            PolicyNotFound,
            404,
            grpc.StatusCode.NOT_FOUND,
            "no valid ResiliencePolicy of that name is being served",
        ),
        _rule(
            RevisionConflict,
            409,
            grpc.StatusCode.ABORTED,
            "the expected revision is stale; the answer holds the current one",
            _stale,
        ),
        _rule(RolloutNotFound, 404, grpc.StatusCode.NOT_FOUND, "no such Rollout"),
        _rule(
            CommandRefused,
            409,
            grpc.StatusCode.FAILED_PRECONDITION,
            "the command does not apply to the rollout in its phase; the answer says what does",
        ),
        _rule(
            RolloutMoved,
            409,
            grpc.StatusCode.ABORTED,
            "the rollout is no longer at the phase and step the command named; nothing was done",
        ),
        _rule(
            DrivenByRollout,
            409,
            grpc.StatusCode.FAILED_PRECONDITION,
            "a Rollout drives this rule's weights; abort it or let it finish first",
        ),
        _rule(NotReady, 503, grpc.StatusCode.UNAVAILABLE, "no valid policy set is loaded yet"),
        _rule(
            StoreError,
            503,
            grpc.StatusCode.UNAVAILABLE,
            "the state store cannot take the write",
            _not_saved,
        ),
    ]
)
"""Looked up along the exception's class hierarchy, so RouteNotFound finds its own rule before
WeightError's."""

HANDLED: tuple[type[Exception], ...] = tuple(ERRORS)
"""What the front ends catch; anything else is a bug and propagates."""


def refusal(exc: Exception) -> tuple[ErrorRule, ErrorResponse]:
    """The rule and the answer for an exception of one of the `HANDLED` types."""
    for kind in type(exc).__mro__:
        rule = ERRORS.get(kind)
        if rule is not None:
            return rule, rule.answer(exc)
    raise LookupError(f"the error table has no rule for {type(exc).__name__}") from exc
