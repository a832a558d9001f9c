"""What became of each Gateway API route: the conditions the Gateway API defines, per parent.

A route that names a Gateway Breakwater does not have, or a Service it does
not know, is not a mistake in the Gateway API's world: the route is kept,
and its status says why part of it is not served. These are the conditions
and reasons of the Gateway API's RouteParentStatus, so a user who knows
`kubectl get httproute -o yaml` reads the same words in `breakwater policies`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ConditionType = Literal["Accepted", "ResolvedRefs"]

ACCEPTED = "Accepted"
NO_MATCHING_PARENT = "NoMatchingParent"
NOT_ALLOWED_BY_LISTENERS = "NotAllowedByListeners"
NO_MATCHING_LISTENER_HOSTNAME = "NoMatchingListenerHostname"
UNSUPPORTED_VALUE = "UnsupportedValue"
RESOLVED_REFS = "ResolvedRefs"
BACKEND_NOT_FOUND = "BackendNotFound"
REF_NOT_PERMITTED = "RefNotPermitted"
INVALID_KIND = "InvalidKind"


@dataclass(frozen=True)
class Condition:
    type: ConditionType
    status: bool
    reason: str
    message: str


@dataclass(frozen=True)
class ParentStatus:
    """The route's standing on one of its parentRefs."""

    namespace: str
    name: str
    section_name: str | None
    port: int | None
    conditions: tuple[Condition, ...]
    listeners: tuple[str, ...] = ()
    """The Gateway's listeners the route attached to (none unless Accepted): each counts it in
    its `attachedRoutes`."""


@dataclass(frozen=True)
class RouteStatus:
    kind: str
    namespace: str
    name: str
    """As written; Breakwater and Envoy call the route `<namespace>.<name>`."""
    parents: tuple[ParentStatus, ...]


@dataclass(frozen=True)
class GatewayApiState:
    """What the Gateway API documents of a policy set add to it beside Breakwater's kinds."""

    gateways: frozenset[str] = frozenset()
    """Gateways read from the Gateway API: their routes merge by hostname and precedence."""
    route_rank: Mapping[str, int] = field(default_factory=dict)
    """Route → its place in the Gateway API's tie-break order (oldest first, then by name)."""
    routes: Mapping[str, RouteStatus] = field(default_factory=dict)
    """`<kind>/<namespace>.<name>` → the route's status."""

    def status_of(self, kind: str, name: str) -> RouteStatus | None:
        return self.routes.get(f"{kind}/{name}")


__all__ = [
    "Condition",
    "ConditionType",
    "GatewayApiState",
    "ParentStatus",
    "RouteStatus",
]
