"""Why a service gets the Envoy config it gets: each effective setting, who set it, and what Envoy makes of it.

Users arrive with Hystrix and Resilience4j numbers. Envoy's mechanisms are
close but not the same (per-host ejection, no half-open probe, a panic
threshold that sends traffic to ejected hosts), so every line that differs
says how. What each field becomes is stated by the translator slice that
writes it (`outlier`, `bulkhead`, `retries`, `health`, `clusters`); this
module puts those statements in order and answers for one service.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, get_args

from pydantic import BaseModel

from breakwater.translators import bulkhead, clusters, health, outlier, retries
from breakwater.translators.durations import format_duration
from breakwater.translators.meanings import Meanings
from breakwater.translators.model import ResilienceSpec
from breakwater.translators.policyset import Effective, FieldPath, PolicySet


def _fields(model: type[BaseModel], prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Every field path under `model`, each before the fields inside it, in declaration order."""
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        yield path
        for inner in (info.annotation, *get_args(info.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _fields(inner, path)
                break


def _collect(*slices: Meanings) -> Meanings:
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
    order = list(_fields(ResilienceSpec))
    unknown = [".".join(path) for path in merged if path not in order]
    if unknown:
        raise ValueError(f"explained fields that ResilienceSpec does not have: {unknown}")
    return {path: merged[path] for path in order if path in merged}


MEANINGS: Meanings = _collect(
    outlier.EXPLAIN, bulkhead.EXPLAIN, retries.EXPLAIN, clusters.EXPLAIN, health.EXPLAIN
)
"""Every field a user can set that Envoy sees, with what it becomes there."""


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
    return value


def explain_effective(effective: Effective) -> list[ExplainedSetting]:
    """Every field that some policy set, plus the model defaults that ride along with them."""
    settings: list[ExplainedSetting] = []
    for path, meaning in MEANINGS.items():
        section = getattr(effective.spec, path[0])
        if section is None:
            continue
        value = _value_at(effective.spec, path)
        set_by = effective.provenance.get(path)
        if set_by is None:
            if value is None:
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
            if not any(b.service == service for b in rule.backends):
                continue
            label = f"rule {index}" + (f" ({rule.name})" if rule.name else "")
            route_settings = [
                s
                for s in explain_effective(policyset.effective_for_rule(route_name, index))
                if s.envoy.startswith("route.")
            ]
            sections.append(ExplainSection(f"HTTPRoute {route_name} {label}", route_settings))
    return sections
