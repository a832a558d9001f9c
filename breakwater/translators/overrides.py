"""Weights set through the API, laid over the weights in the YAML.

An override names a route, a rule and a weight per backend label (the
backend's subset, or its service when it has no subset). It is checked with
the same rules as a file: every backend named, no unknown backend, no
negative weight, a positive sum. When the YAML later changes so that an
override no longer fits its rule, the override is dropped, and the reason is
returned so that status can say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from breakwater.translators.policyset import PolicySet, backend_label
from breakwater.translators.route_model import HTTPRoute, RouteRule, rule_index_of


class RuleWeights(Protocol):
    @property
    def route(self) -> str: ...
    @property
    def rule(self) -> int: ...
    @property
    def weights(self) -> Mapping[str, int]: ...


class WeightError(ValueError):
    """Weights that cannot apply to a rule; the message says what is allowed."""


class RouteNotFound(WeightError):
    """The route or rule named does not exist."""


@dataclass(frozen=True)
class DroppedOverride:
    route: str
    rule: int
    weights: Mapping[str, int]
    reason: str


def rule_labels(rule: RouteRule) -> list[str]:
    return [backend_label(b.service, b.subset) for b in rule.backends]


def default_rule(route: HTTPRoute) -> int:
    """The rule an override means when none is named: the first that splits traffic."""
    for index, rule in enumerate(route.spec.rules):
        if len(rule.backends) > 1:
            return index
    raise WeightError(
        f"HTTPRoute {route.name!r} has no rule with more than one backend; name a rule with `rule`"
    )


def resolve_rule(policyset: PolicySet, route: str, rule: int | str | None) -> int:
    """The index of the rule named by its index or its name (None: the default rule)."""
    http_route = policyset.routes.get(route)
    if http_route is None:
        known = ", ".join(sorted(policyset.routes)) or "none"
        raise RouteNotFound(f"HTTPRoute {route!r} is not declared; declared routes: {known}")
    if rule is None:
        return default_rule(http_route)
    if isinstance(rule, str):
        index = rule_index_of(http_route, rule)
        if index is None:
            named = [f"{r.name} ({i})" for i, r in enumerate(http_route.spec.rules) if r.name]
            raise RouteNotFound(
                f"HTTPRoute {route!r} has no rule named {rule!r}; its rules: "
                f"{', '.join(named) or 'none has a name'}. Name a rule by its name or its index"
            )
        return index
    count = len(http_route.spec.rules)
    if not 0 <= rule < count:
        raise RouteNotFound(
            f"HTTPRoute {route!r} has rules 0 to {count - 1}; rule {rule} does not exist"
        )
    return rule


def check_weights(policyset: PolicySet, route: str, rule: int, weights: Mapping[str, int]) -> None:
    """Refuse weights that a file would be refused for, with the same words."""
    labels = rule_labels(policyset.routes[route].spec.rules[rule])
    unknown = sorted(set(weights) - set(labels))
    if unknown:
        raise WeightError(
            f"HTTPRoute {route!r} rule {rule} has no backend {', '.join(map(repr, unknown))}; "
            f"its backends: {', '.join(labels)}"
        )
    missing = [label for label in labels if label not in weights]
    if missing:
        raise WeightError(
            f"give a weight for every backend of HTTPRoute {route!r} rule {rule}: missing "
            f"{', '.join(missing)} (its backends: {', '.join(labels)})"
        )
    for label, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise WeightError(f"weight of {label!r} is {weight!r}; use a whole number of 0 or more")
        if weight > 1_000_000:
            raise WeightError(f"weight of {label!r} is {weight}; use at most 1000000")
    if sum(weights.values()) <= 0:
        raise WeightError("the weights add up to 0: give at least one backend a positive weight")


def apply_overrides(
    policyset: PolicySet, overrides: Iterable[RuleWeights]
) -> tuple[PolicySet, list[DroppedOverride]]:
    """A PolicySet whose rules carry the overridden weights, and the overrides that no longer fit."""
    routes = dict(policyset.routes)
    dropped: list[DroppedOverride] = []
    changed: set[str] = set()
    for override in sorted(overrides, key=lambda o: (o.route, o.rule)):
        try:
            if override.route not in routes:
                raise WeightError(f"HTTPRoute {override.route!r} is no longer declared")
            current = PolicySet(routes=routes)
            resolve_rule(current, override.route, override.rule)
            check_weights(current, override.route, override.rule, override.weights)
        except WeightError as exc:
            dropped.append(
                DroppedOverride(override.route, override.rule, dict(override.weights), str(exc))
            )
            continue
        route = routes[override.route]
        rules = list(route.spec.rules)
        rule = rules[override.rule]
        rules[override.rule] = rule.model_copy(
            update={
                "backends": [
                    b.model_copy(
                        update={"weight": override.weights[backend_label(b.service, b.subset)]}
                    )
                    for b in rule.backends
                ]
            }
        )
        routes[override.route] = route.model_copy(
            update={"spec": route.spec.model_copy(update={"rules": rules})}
        )
        changed.add(override.route)
    return policyset.with_routes(routes, changed), dropped
