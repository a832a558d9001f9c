"""Why a service gets the Envoy config it gets: each effective setting, who set it, and what Envoy makes of it.

Users arrive with Hystrix and Resilience4j numbers. Envoy's mechanisms are
close but not the same (per-host ejection, no half-open probe, a panic
threshold that sends traffic to ejected hosts), so every line that differs
says how. What each field becomes is stated by the translator slice that
writes it (`outlier`, `admission`, `bulkhead`, `retries`, `health`, `clusters`,
`fallback`, `balancing` for policy fields; `faults`, `ratelimit`, `mirror`, `headers` for
what a route rule does to its traffic); this module puts those statements in
order and answers for one service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, get_args

from pydantic import BaseModel

from breakwater.translators.durations import format_duration
from breakwater.translators.envoy import (
    admission,
    balancing,
    bulkhead,
    clusters,
    endpoints,
    fallback,
    faults,
    headers,
    health,
    mirror,
    outlier,
    ratelimit,
    retries,
)
from breakwater.translators.explain.meanings import Meanings
from breakwater.translators.model import ResilienceSpec
from breakwater.translators.policyset import Effective, FieldPath, PolicySet, Provenance
from breakwater.translators.route_model import RouteRule


def _fields(model: type[BaseModel], prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Every field path under `model`, each before the fields inside it, in declaration order."""
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        yield path
        for inner in (info.annotation, *get_args(info.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _fields(inner, path)
                break


def _collect(*slices: Meanings, model: type[BaseModel] = ResilienceSpec) -> Meanings:
    """The slices' meanings in the order the model declares the fields, which is how users read them.

    A meaning for a field the model does not have, or a field claimed by two
    slices, is a mistake in the code, found as soon as the module is imported.
    """
    merged: Meanings = {}
    for meanings in slices:
        for path, meaning in meanings.items():
            if path in merged:
                raise ValueError(f"{'.'.join(path)} is explained twice")
            merged[path] = meaning
    order = list(_fields(model))
    unknown = [".".join(path) for path in merged if path not in order]
    if unknown:
        raise ValueError(f"explained fields that {model.__name__} does not have: {unknown}")
    return {path: merged[path] for path in order if path in merged}


MEANINGS: Meanings = _collect(
    outlier.EXPLAIN,
    admission.EXPLAIN,
    bulkhead.EXPLAIN,
    retries.EXPLAIN,
    clusters.EXPLAIN,
    health.EXPLAIN,
    fallback.EXPLAIN,
    balancing.EXPLAIN,
    endpoints.EXPLAIN,
)
"""Every policy field a user can set that Envoy sees, with what it becomes there."""

RULE_MEANINGS: Meanings = _collect(
    faults.EXPLAIN, ratelimit.EXPLAIN, mirror.EXPLAIN, headers.EXPLAIN, model=RouteRule
)
"""What a route rule does to its traffic (paths under RouteRule), which no policy merges into.

A rule's rate limit may come from its HTTPRoute or its Gateway instead
(`ratelimit.effective_rate_limits`); it is explained with the same words."""


@dataclass(frozen=True)
class ExplainedSetting:
    path: str
    value: Any
    set_by: str
    envoy: str
    differs: str


def _camel(path: FieldPath) -> str:
    def one(part: str) -> str:
        head, *rest = part.split("_")
        return head + "".join(p.title() for p in rest)

    return ".".join(one(p) for p in path)


def _value_at(model: BaseModel, path: FieldPath) -> Any:
    current: Any = model
    for part in path:
        current = getattr(current, part, None)
    return current


def _display(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [_display(item) for item in value]
    return value


def explain_effective(effective: Effective) -> list[ExplainedSetting]:
    """Every field that some policy set, plus the model defaults that ride along with them."""
    return _explained(MEANINGS, effective.spec, lambda path: _setters(effective.provenance, path))


def _setters(provenance: Provenance, path: FieldPath) -> str | None:
    """Who set a field; for a map (fallback headers), whoever set any of its entries."""
    found = provenance.get(path)
    if found is not None:
        return found
    below = sorted({who for field, who in provenance.items() if field[: len(path)] == path})
    return ", ".join(below) or None


def _explained(
    meanings: Meanings, model: BaseModel, set_by_of: Callable[[FieldPath], str | None]
) -> list[ExplainedSetting]:
    """The fields of `model` that have a meaning and were set (or default along with a set one).

    An empty list or map counts as not set: `requestHeaders.add: []` changes nothing.
    """
    settings: list[ExplainedSetting] = []
    for path, meaning in meanings.items():
        section = getattr(model, path[0])
        if section is None:
            continue
        value = _value_at(model, path)
        set_by = set_by_of(path)
        if set_by is None:
            if value is None or value == [] or value == {}:
                continue
            set_by = "Breakwater default"
        settings.append(
            ExplainedSetting(
                path=_camel(path),
                value=_display(value),
                set_by=set_by,
                envoy=meaning.envoy,
                differs=meaning.differs,
            )
        )
    return settings


def explain_rule(policyset: PolicySet, route_name: str, index: int) -> list[ExplainedSetting]:
    """A rule's route-level policy (retry, timeout, fallback), then what the rule does itself."""
    route = policyset.routes[route_name]
    rule = route.spec.rules[index]
    settings = [
        s
        for s in explain_effective(policyset.effective_for_rule(route_name, index))
        if s.envoy.startswith("route.")
    ]
    own = f"HTTPRoute/{route_name} rule {index}"
    written = rule.model_dump(exclude_unset=True)

    def set_by_rule(path: FieldPath) -> str | None:
        """The rule, for what its author wrote; model defaults riding along are Breakwater's."""
        current: Any = written
        for part in path:
            if not isinstance(current, dict) or part not in current:
                return None
            current = current[part]
        return own

    settings += [
        s
        for s in _explained(RULE_MEANINGS, rule, set_by_rule)
        if not s.path.startswith("rateLimit.")
    ]
    limit_meanings = {path: m for path, m in RULE_MEANINGS.items() if path[0] == "rate_limit"}
    for who, limit in ratelimit.effective_rate_limits(policyset.gateways, route, index):
        holder = RouteRule.model_construct(rate_limit=limit)
        settings += _explained(limit_meanings, holder, _written_by(who, limit))
    return settings


def _written_by(who: str, limit: BaseModel) -> Callable[[FieldPath], str | None]:
    """`who` for the fields of a rate limit its author wrote (`rate_limit`, field)."""
    return lambda path: who if path[1] in limit.model_fields_set else None


@dataclass(frozen=True)
class ExplainSection:
    title: str
    settings: list[ExplainedSetting]


def explain_service(policyset: PolicySet, service: str) -> list[ExplainSection]:
    """Sections for the service's clusters (whole and per subset) and for each route rule that sends to it."""
    spec = policyset.services[service].spec
    sections = [
        ExplainSection(
            f"cluster {service}" + (f" subset {subset}" if subset else ""),
            [
                s
                for s in explain_effective(policyset.effective_for_cluster(service, subset))
                if not s.envoy.startswith("route.")
            ],
        )
        for subset in [None, *(s.name for s in spec.subsets)]
    ]
    for route_name in sorted(policyset.routes):
        route = policyset.routes[route_name]
        for index, rule in enumerate(route.spec.rules):
            mirrored = rule.mirror is not None and rule.mirror.service == service
            if not mirrored and not any(b.service == service for b in rule.backends):
                continue
            label = f"rule {index}" + (f" ({rule.name})" if rule.name else "")
            sections.append(
                ExplainSection(
                    f"HTTPRoute {route_name} {label}", explain_rule(policyset, route_name, index)
                )
            )
    return sections
