"""Why a gateway traces and logs what it does, and which policy a response flag in its log points at.

The first sections are the gateway's merged Telemetry (and that of each of
its routes that has its own), field by field with the document that set it,
as `explain` shows a service's policies. The last one reads an access log
line backwards: for each response flag Envoy can write, what it means in
Breakwater's words and which ResiliencePolicy set the fields that make Envoy
do it, on each cluster (the line's `upstream_cluster`) or route rule (its
`route_name`) this gateway serves.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel

from breakwater.translators.envoy import limits, telemetry, tls
from breakwater.translators.envoy.ratelimit import LimitPart, effective_rate_limits
from breakwater.translators.explain.meanings import Meanings
from breakwater.translators.explain.response_flags import RESPONSE_FLAGS, ResponseFlag
from breakwater.translators.explain.settings import (
    ExplainedSetting,
    ExplainSection,
    _camel,
    _collect,
    _display,
    _explained,
    _setters,
    _value_at,
)
from breakwater.translators.ir.upstreams import (
    ClusterPolicies,
    attached_routes,
    backend_targets,
    reachable_targets,
)
from breakwater.translators.model import GatewaySpec
from breakwater.translators.names import cluster_name
from breakwater.translators.policyset import EffectiveTelemetry, FieldPath, PolicySet, Provenance
from breakwater.translators.route_model import HTTPRoute
from breakwater.translators.telemetry_model import TelemetrySpec

TELEMETRY_MEANINGS: Meanings = _collect(telemetry.EXPLAIN, model=TelemetrySpec)
"""Every Telemetry field Envoy sees, with what it becomes there."""
LISTENER_MEANINGS: Meanings = _collect(tls.EXPLAIN, limits.EXPLAIN, model=GatewaySpec)
"""The gateway's own fields that shape its listener beyond address and port (`tls`, `limits`)."""

BY_ENTRY: frozenset[FieldPath] = frozenset({("tracing", "tags"), ("access_log", "fields")})
"""Fields that merge entry by entry (tags by name, log fields by field name): one line each."""

NO_POLICY = "Envoy (no policy field causes it)"
NOT_SET = "no policy on this gateway sets those fields"


def _entries(path: FieldPath, value: Any, provenance: Provenance) -> list[ExplainedSetting]:
    """One line per tag or field of `path`, with the Telemetry that set that entry."""
    meaning = TELEMETRY_MEANINGS[path]
    out = []
    for field, who in provenance.items():
        if len(field) != len(path) + 1 or field[:-1] != path:
            continue
        key = field[-1]
        if isinstance(value, dict):
            entry = value.get(key)
        else:
            entry = next((v for v in value or [] if getattr(v, "name", None) == key), None)
            if isinstance(entry, BaseModel):
                entry = entry.model_dump(
                    mode="json", by_alias=True, exclude={"name"}, exclude_none=True
                )
        out.append(
            ExplainedSetting(
                path=f"{_camel(path)}.{key}",
                value=_display(entry),
                set_by=who,
                envoy=meaning.envoy,
                differs=meaning.differs,
            )
        )
    return out


def explain_telemetry(effective: EffectiveTelemetry) -> list[ExplainedSetting]:
    """Every Telemetry field some document set, in the model's order, with who set it."""
    settings: list[ExplainedSetting] = []
    for path, meaning in TELEMETRY_MEANINGS.items():
        if path in BY_ENTRY:
            if getattr(effective.spec, path[0]) is not None:
                value = _value_at(effective.spec, path)
                settings += _entries(path, value, effective.provenance)
            continue
        settings += _explained(
            {path: meaning}, effective.spec, lambda p: _setters(effective.provenance, p)
        )
    return settings


def _acting(provenance: Provenance, flag: ResponseFlag) -> set[str]:
    """The documents (a policy, or a rule's own retry or timeout) that set a field behind `flag`."""
    return {
        who
        for path, who in provenance.items()
        if any(path[: len(prefix)] == prefix for prefix in flag.fields)
    }


def _rule_actors(
    policyset: PolicySet, route: HTTPRoute, index: int, flag: ResponseFlag
) -> set[str]:
    """Who set what the rule does itself behind `flag`: its fault, or its effective rate limit."""
    found: set[str] = set()
    rule = route.spec.rules[index]
    for path in flag.rule_fields:
        if path[0] == "rate_limit":
            parts: tuple[LimitPart, ...] = (
                ("global",) if path == ("rate_limit", "global_") else get_args(LimitPart)
            )
            for part in parts:
                found |= {
                    who for who, _ in effective_rate_limits(policyset.gateways, route, index, part)
                }
        elif _value_at(rule, path) is not None:
            found.add(f"HTTPRoute/{route.name} rule {index}")
    return found


def _acted(policyset: PolicySet, gateway: str, flag: ResponseFlag) -> dict[str, list[str]]:
    """Who → the clusters (or route rules) of this gateway where it set the flag's fields."""
    found: dict[str, list[str]] = {}
    if flag.level == "cluster":
        policies = ClusterPolicies(policyset)
        plain, _ = reachable_targets(policyset, backend_targets(policyset, [gateway]), policies)
        for service, subset in plain:
            provenance = policyset.effective_for_cluster(service, subset).provenance
            for who in sorted(_acting(provenance, flag)):
                found.setdefault(who, []).append(cluster_name(service, subset))
    elif flag.level == "route":
        for route in attached_routes(policyset, gateway):
            for index, _ in enumerate(route.spec.rules):
                provenance = policyset.effective_for_rule(route.name, index).provenance
                actors = _acting(provenance, flag) | _rule_actors(policyset, route, index, flag)
                for who in sorted(actors):
                    found.setdefault(who, []).append(f"{route.name}/{index}/*")
    return found


def explain_flags(policyset: PolicySet, gateway: str) -> list[ExplainedSetting]:
    """One line per response flag: its meaning, and who set what made Envoy write it here."""
    settings = []
    for flag in RESPONSE_FLAGS:
        acted = _acted(policyset, gateway, flag)
        if flag.level is None:
            set_by = NO_POLICY
        elif not acted:
            set_by = NOT_SET
        else:
            where = "upstream_cluster" if flag.level == "cluster" else "route_name"
            set_by = "; ".join(
                f"{who} ({where} {', '.join(names)})" for who, names in acted.items()
            )
        settings.append(
            ExplainedSetting(
                path=flag.code,
                value=flag.envoy_name,
                set_by=set_by,
                envoy=flag.meaning,
                differs="",
            )
        )
    return settings


def explain_listener(policyset: PolicySet, gateway: str) -> list[ExplainedSetting]:
    """The gateway's TLS termination and limits, field by field, set by the Gateway itself."""
    spec = policyset.gateways[gateway].spec
    return _explained(LISTENER_MEANINGS, spec, lambda _: f"Gateway/{gateway}")


def explain_gateway(policyset: PolicySet, gateway: str) -> list[ExplainSection]:
    """The gateway's TLS (when it has some), its Telemetry, its routes' own, and what each
    response flag in its log means."""
    effective = policyset.effective_telemetry(gateway)
    sections = []
    listener = explain_listener(policyset, gateway)
    if listener:
        sections.append(ExplainSection(f"listener of gateway {gateway}", listener))
    sections.append(
        ExplainSection(
            f"Telemetry of gateway {gateway}",
            explain_telemetry(effective),
        )
    )
    for route in attached_routes(policyset, gateway):
        layers = policyset.telemetry_layers(gateway, route.name)
        if not any(
            s.target_ref is not None and s.target_ref.kind == "HTTPRoute" for _, s in layers
        ):
            continue
        on_route = policyset.effective_telemetry(gateway, route.name)
        route_settings = [
            s
            for s in explain_telemetry(on_route)
            if s.path.startswith("tracing.")
            and not s.path.startswith(("tracing.openTelemetry", "tracing.disabled"))
        ]
        sections.append(
            ExplainSection(
                f"Telemetry of HTTPRoute {route.name} on gateway {gateway}", route_settings
            )
        )
    sections.append(
        ExplainSection(
            f"response flags in gateway {gateway}'s access log", explain_flags(policyset, gateway)
        )
    )
    return sections
