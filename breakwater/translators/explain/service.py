"""Why a service gets the Envoy config it gets: each effective setting, who set it, and what Envoy makes of it.

Users arrive with Hystrix and Resilience4j numbers. Envoy's mechanisms are
close but not the same (per-host ejection, no half-open probe, a panic
threshold that sends traffic to ejected hosts), so every line that differs
says how. What each field becomes is stated by the translator slice that
writes it (`outlier`, `admission`, `bulkhead`, `retries`, `health`, `clusters`,
`fallback`, `balancing`, `adaptive` for policy fields; `faults`, `ratelimit`, `mirror`, `headers` for
what a route rule does to its traffic); this module puts those statements in
order and answers for one service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from pydantic import BaseModel

from breakwater.translators.envoy import (
    adaptive,
    admission,
    balancing,
    bulkhead,
    clusters,
    endpoints,
    fallback,
    faults,
    global_ratelimit,
    headers,
    health,
    mirror,
    outlier,
    ratelimit,
    retries,
)
from breakwater.translators.envoy.ratelimit import LimitPart
from breakwater.translators.explain.meanings import Meanings
from breakwater.translators.explain.proxyless import explain_proxyless
from breakwater.translators.explain.settings import (
    ExplainedSetting,
    ExplainSection,
    _collect,
    _explained,
    explain_with,
)
from breakwater.translators.policyset import Effective, FieldPath, PolicySet
from breakwater.translators.route_model import RouteRule

MEANINGS: Meanings = _collect(
    outlier.EXPLAIN,
    admission.EXPLAIN,
    bulkhead.EXPLAIN,
    adaptive.EXPLAIN,
    retries.EXPLAIN,
    clusters.EXPLAIN,
    health.EXPLAIN,
    fallback.EXPLAIN,
    balancing.EXPLAIN,
    endpoints.EXPLAIN,
)
"""Every policy field a user can set that Envoy sees, with what it becomes there."""

RULE_MEANINGS: Meanings = _collect(
    faults.EXPLAIN,
    ratelimit.EXPLAIN,
    global_ratelimit.EXPLAIN,
    mirror.EXPLAIN,
    headers.EXPLAIN,
    model=RouteRule,
)
"""What a route rule does to its traffic (paths under RouteRule), which no policy merges into.

A rule's rate limit may come from its HTTPRoute or its Gateway instead
(`ratelimit.effective_rate_limits`); it is explained with the same words."""


def explain_effective(effective: Effective) -> list[ExplainedSetting]:
    """Every field that some policy set, plus the model defaults that ride along with them."""
    return explain_with(MEANINGS, effective)


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
    for part in get_args(LimitPart):
        for who, limit in ratelimit.effective_rate_limits(policyset.gateways, route, index, part):
            holder = RouteRule.model_construct(rate_limit=limit)
            settings += _explained(limit_meanings, holder, _written_by(who, limit, part))
    return settings


def _written_by(who: str, limit: BaseModel, part: str) -> Callable[[FieldPath], str | None]:
    """`who` for the fields of a rate limit's `part` its author wrote (`rate_limit`, field):
    the global limit's fields under `global`, the bucket's the others."""

    def setter(path: FieldPath) -> str | None:
        if (path[1] == "global_") != (part == "global"):
            return None
        return who if path[1] in limit.model_fields_set else None

    return setter


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
    proxyless = explain_proxyless(policyset, service)
    return sections if proxyless is None else [*sections, proxyless]
