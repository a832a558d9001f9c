"""What the `status` of each object Breakwater reads from Kubernetes should say: a pure function.

From what the control plane knows (the served policy set's Gateway API state, how many
proxies hold each document, each Rollout's progress), what the last read made of the
object (its `ObjectReport`: the documents it became, its located errors, whether it or its
last valid version serves) and the object as the API server holds it, `desired_status`
gives the whole `status` to write, or None for an object Breakwater does not own (a GatewayClass of
another controller). The writer (`status_writer`) only compares and writes.

Conditions are `metav1.Condition`s: each carries the object's `observedGeneration`, and
keeps its `lastTransitionTime` while its status stays the same, so rewriting an unchanged
status is a no-op the writer can skip. A route's `status.parents` entries written by
other controllers are kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breakwater.controlplane.kubernetes.objects import CONTROLLER_NAME
from breakwater.controlplane.kubernetes.source import ObjectReport
from breakwater.controlplane.rollouts.status import RolloutView
from breakwater.schema.crd_status import (
    Analysis,
    BreakwaterStatus,
    Condition,
    ProxyCount,
    RolloutProgress,
)
from breakwater.translators.gateway_api.model import GROUP
from breakwater.translators.gateway_api.status import GatewayApiState, RouteStatus

BREAKWATER_GROUP = "breakwater.dev"
MESSAGE_LIMIT = 32_768
"""metav1.Condition's maxLength for a message."""

_ROUTE_KINDS = {"HTTP": ("HTTPRoute", "GRPCRoute"), "HTTPS": ("HTTPRoute", "GRPCRoute")}


@dataclass(frozen=True)
class StatusView:
    """What the statuses are computed from, beside each object's own report."""

    gateway_api: GatewayApiState = field(default_factory=GatewayApiState)
    """Of the served set: its routes' conditions and the Gateways it serves."""
    proxies: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """`Kind/name` of a document → (proxies that applied it, proxies whose config it is in)."""
    rollouts: Mapping[str, RolloutView] = field(default_factory=dict)
    foreign_gateways: frozenset[tuple[str, str]] = frozenset()
    """(namespace, name) of the Gateways of other controllers' classes: a route's parentRef
    to one gets no status entry from Breakwater."""
    now: str = "1970-01-01T00:00:00Z"
    """RFC 3339, UTC: the lastTransitionTime of a condition that changes now."""


def desired_status(
    obj: Mapping[str, Any], report: ObjectReport | None, view: StatusView
) -> dict[str, Any] | None:
    """The status the object should have, or None when it is not Breakwater's to write.

    `report` is what the last read made of the object (None: it has not been read yet)."""
    group = str(obj.get("apiVersion", "")).partition("/")[0]
    kind = str(obj.get("kind", ""))
    if group == GROUP and kind == "GatewayClass":
        return _gateway_class(obj, view)
    if report is None or (not report.documents and not report.errors):
        return None  # not read (another controller's Gateway, or not yet)
    if group == GROUP:
        if kind == "Gateway":
            return _gateway(obj, report, view)
        if kind in ("HTTPRoute", "GRPCRoute"):
            return _route(obj, report, view)
        return None
    if group == BREAKWATER_GROUP and kind != "Service":
        return _breakwater(obj, report, view)
    return None


def foreign_gateways(
    objects: Iterable[tuple[Mapping[str, Any], ObjectReport | None]],
) -> frozenset[tuple[str, str]]:
    """(namespace, name) of the Gateways the source left alone: another controller's class."""
    return frozenset(
        (str(obj["metadata"].get("namespace")), str(obj["metadata"].get("name")))
        for obj, report in objects
        if obj.get("kind") == "Gateway"
        and (report is None or not (report.documents or report.errors))
    )


def same_status(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether writing `desired` would change nothing but times the writer keeps anyway."""
    return bool(_without_times(current or {}) == _without_times(desired))


# --- conditions -----------------------------------------------------------------------------


def _condition(
    obj: Mapping[str, Any],
    previous: Sequence[Mapping[str, Any]],
    kind: str,
    ok: bool,
    reason: str,
    message: str,
    now: str,
) -> dict[str, Any]:
    status = "True" if ok else "False"
    before = next((c for c in previous if c.get("type") == kind), None)
    since = before.get("lastTransitionTime") if before and before.get("status") == status else None
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "observedGeneration": _generation(obj),
        "lastTransitionTime": since or now,
    }


def _generation(obj: Mapping[str, Any]) -> int:
    return int(obj.get("metadata", {}).get("generation") or 1)


def _conditions_of(container: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    conditions = (container or {}).get("conditions") or []
    return [c for c in conditions if isinstance(c, Mapping)]


def _without_times(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_times(v) for k, v in value.items() if k != "lastTransitionTime"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


# --- Gateway API ----------------------------------------------------------------------------


def _gateway_class(obj: Mapping[str, Any], view: StatusView) -> dict[str, Any] | None:
    if obj.get("spec", {}).get("controllerName") != CONTROLLER_NAME:
        return None
    previous = _conditions_of(obj.get("status"))
    message = "handled by Breakwater"
    return {
        "conditions": [_condition(obj, previous, "Accepted", True, "Accepted", message, view.now)]
    }


def _errors_of(report: ObjectReport) -> list[str]:
    return list(dict.fromkeys(str(error) for error in report.errors))


def _document(report: ObjectReport) -> str:
    """`Kind/name` of the (first) document the object became, for the proxies' counts."""
    return report.documents[0] if report.documents else f"{report.kind}/?"


def _gateway(obj: Mapping[str, Any], report: ObjectReport, view: StatusView) -> dict[str, Any]:
    document = _document(report)
    previous_status = obj.get("status") or {}
    previous = _conditions_of(previous_status)
    errors = _errors_of(report)
    served = report.served != "none" and document.partition("/")[2] in view.gateway_api.gateways
    now = view.now
    if errors:
        accepted = _condition(obj, previous, "Accepted", False, "Invalid", "; ".join(errors), now)
    else:
        accepted = _condition(obj, previous, "Accepted", True, "Accepted", "accepted", now)
    if served:
        applied, total = view.proxies.get(document, (0, 0))
        which = "its last valid version is" if report.served == "previous" else "served;"
        programmed = _condition(
            obj, previous, "Programmed", True, "Programmed",
            f"{which} applied on {applied} of {total} proxies", now,
        )  # fmt: skip
    else:
        why = "it is invalid" if errors else "the policy set it belongs to is not served yet"
        programmed = _condition(
            obj, previous, "Programmed", False, "Invalid" if errors else "Pending",
            f"not served: {why}", now,
        )  # fmt: skip
    attached = _attached_routes(view.gateway_api.routes.values(), obj)
    old_listeners = {
        str(li.get("name")): li
        for li in previous_status.get("listeners") or []
        if isinstance(li, Mapping)
    }
    listeners = []
    for listener in obj.get("spec", {}).get("listeners") or []:
        listener_name = str(listener.get("name", ""))
        old = _conditions_of(old_listeners.get(listener_name))
        kinds = _ROUTE_KINDS.get(str(listener.get("protocol", "")), ())
        listeners.append(
            {
                "name": listener_name,
                "supportedKinds": [{"group": GROUP, "kind": k} for k in kinds],
                "attachedRoutes": attached.get(listener_name, 0),
                "conditions": _listener_conditions(obj, old, not errors, served, now),
            }
        )
    return {"conditions": [accepted, programmed], "listeners": listeners}


def _listener_conditions(
    obj: Mapping[str, Any], old: Sequence[Mapping[str, Any]], valid: bool, served: bool, now: str
) -> list[dict[str, Any]]:
    accepted = ("Accepted", "accepted") if valid else ("Invalid", "the Gateway is invalid")
    programmed = ("Programmed", "served") if served else ("Pending", "not served yet")
    return [
        _condition(obj, old, "Accepted", valid, *accepted, now),
        _condition(obj, old, "Programmed", served, *programmed, now),
        _condition(obj, old, "ResolvedRefs", True, "ResolvedRefs", "resolved", now),
    ]


def _attached_routes(routes: Any, gateway: Mapping[str, Any]) -> dict[str, int]:
    """Listener name → how many routes attached to it (Accepted on this Gateway)."""
    meta = gateway.get("metadata", {})
    key = (meta.get("namespace", "default"), meta.get("name", ""))
    counts: dict[str, int] = {}
    for route in routes:
        assert isinstance(route, RouteStatus)
        listeners: set[str] = set()
        for parent in route.parents:
            if (parent.namespace, parent.name) == key:
                listeners.update(parent.listeners)
        for listener in listeners:
            counts[listener] = counts.get(listener, 0) + 1
    return counts


def _route(obj: Mapping[str, Any], report: ObjectReport, view: StatusView) -> dict[str, Any] | None:
    kind, _, name = _document(report).partition("/")
    previous_parents = [
        p for p in (obj.get("status") or {}).get("parents") or [] if isinstance(p, Mapping)
    ]
    others = [p for p in previous_parents if p.get("controllerName") != CONTROLLER_NAME]
    ours = {
        _parent_key(p.get("parentRef") or {}, obj): p
        for p in previous_parents
        if p.get("controllerName") == CONTROLLER_NAME
    }
    errors = _errors_of(report)
    status = None if errors else view.gateway_api.status_of(kind, name)
    parents: list[dict[str, Any]] = []
    for ref in obj.get("spec", {}).get("parentRefs") or []:
        parent_ref = _parent_ref(ref, obj)
        if (parent_ref["namespace"], parent_ref["name"]) in view.foreign_gateways:
            continue  # another controller's Gateway: that controller speaks for it
        previous = _conditions_of(ours.get(_parent_key(parent_ref, obj)))
        parents.append(
            {
                "parentRef": parent_ref,
                "controllerName": CONTROLLER_NAME,
                "conditions": _route_conditions(obj, view, status, errors, parent_ref, previous),
            }
        )
    if not parents and not ours:
        return None  # attached to other controllers' Gateways only
    return {"parents": others + parents}


def _parent_ref(ref: Mapping[str, Any], route: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "group": ref.get("group", GROUP),
        "kind": ref.get("kind", "Gateway"),
        "namespace": ref.get("namespace") or route.get("metadata", {}).get("namespace", "default"),
        "name": ref.get("name", ""),
    }
    for key in ("sectionName", "port"):
        if ref.get(key) is not None:
            out[key] = ref[key]
    return out


def _parent_key(ref: Mapping[str, Any], route: Mapping[str, Any]) -> tuple[Any, ...]:
    namespace = ref.get("namespace") or route.get("metadata", {}).get("namespace", "default")
    return (ref.get("name"), namespace, ref.get("sectionName"), ref.get("port"))


def _route_conditions(
    obj: Mapping[str, Any],
    view: StatusView,
    status: RouteStatus | None,
    errors: list[str],
    ref: Mapping[str, Any],
    previous: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    now = view.now
    if errors:
        message = "; ".join(errors)
        return [
            _condition(obj, previous, "Accepted", False, "UnsupportedValue", message, now),
            _condition(obj, previous, "ResolvedRefs", False, "UnsupportedValue", message, now),
        ]
    parent = None
    if status is not None:
        parent = next(
            (
                p
                for p in status.parents
                if (p.name, p.namespace, p.section_name, p.port)
                == (ref["name"], ref["namespace"], ref.get("sectionName"), ref.get("port"))
            ),
            None,
        )
    if parent is None:
        message = "not served yet: the policy set it belongs to is not served"
        return [
            _condition(obj, previous, "Accepted", False, "Pending", message, now),
            _condition(obj, previous, "ResolvedRefs", False, "Pending", message, now),
        ]
    return [
        _condition(obj, previous, c.type, c.status, c.reason, c.message, now)
        for c in parent.conditions
    ]


# --- Breakwater's kinds ---------------------------------------------------------------------


def _breakwater(obj: Mapping[str, Any], report: ObjectReport, view: StatusView) -> dict[str, Any]:
    document = _document(report)
    kind, _, name = document.partition("/")
    previous = _conditions_of(obj.get("status"))
    now = view.now
    errors = _errors_of(report)
    if errors:
        message = "; ".join(errors)
        if report.served == "previous":
            message += "; its last valid version keeps serving"
        accepted = _condition(obj, previous, "Accepted", False, "Invalid", message, now)
    else:
        accepted = _condition(obj, previous, "Accepted", True, "Valid", "valid", now)
    applied, total = view.proxies.get(document, (0, 0)) if report.served != "none" else (0, 0)
    rollout = view.rollouts.get(name) if kind == "Rollout" else None
    progress = None
    if rollout is not None:
        last = rollout.last_analysis
        progress = RolloutProgress(
            phase=rollout.phase,
            step=rollout.step,
            steps=rollout.steps,
            canary_weight=rollout.canary_weight,
            message=rollout.message,
            last_analysis=None if last is None else Analysis.model_validate(last.to_json()),
        )
    return BreakwaterStatus(
        observed_generation=_generation(obj),
        conditions=[Condition.model_validate(accepted)],
        proxies=ProxyCount(applied=applied, total=total),
        rollout=progress,
    ).to_kubernetes()


__all__ = [
    "BREAKWATER_GROUP",
    "StatusView",
    "desired_status",
    "foreign_gateways",
    "same_status",
]
