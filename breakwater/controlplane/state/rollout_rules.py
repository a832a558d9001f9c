"""Which rule each Rollout drives, and what its progress asks the served routes for.

The controller lays these over the YAML when it publishes (a rollout's header route)
and refuses other writers the weights of a rule a rollout drives; the API names the
driving rollout of each rule. They read only the policy set and the progress.
"""

from __future__ import annotations

from typing import Any

from breakwater.translators.overrides import rule_labels
from breakwater.translators.policyset import PolicySet, PreviewRoute
from breakwater.translators.rollout_model import Rollout
from breakwater.translators.route_model import rule_index_of

DRIVING_PHASES = frozenset({"Progressing", "Paused"})
"""Phases in which a rollout owns its rule's weights."""


def _rule_of(policyset: PolicySet, rollout: Rollout) -> tuple[str, int] | None:
    route = policyset.routes.get(rollout.spec.route_ref.name)
    if route is None:
        return None
    index = rule_index_of(route, rollout.spec.route_ref.rule)
    return None if index is None else (route.name, index)


def driving_rollout(
    policyset: PolicySet, progress: dict[str, dict[str, Any]], route: str, index: int
) -> str | None:
    """The rollout that owns a rule's weights now, if one does."""
    for name, rollout in policyset.rollouts.items():
        if progress.get(name, {}).get("phase") in DRIVING_PHASES and _rule_of(
            policyset, rollout
        ) == (route, index):
            return name
    return None


def rollout_previews(
    policyset: PolicySet, progress: dict[str, dict[str, Any]]
) -> dict[tuple[str, int], PreviewRoute]:
    """The header routes of the rollouts whose progress has theirs on."""
    previews: dict[tuple[str, int], PreviewRoute] = {}
    for name, rollout in policyset.rollouts.items():
        rule = _rule_of(policyset, rollout)
        header = next((s.set_header_route for s in rollout.spec.plan() if s.set_header_route), None)
        if rule is None or header is None or not progress.get(name, {}).get("header_route"):
            continue
        http_rule = policyset.routes[rule[0]].spec.rules[rule[1]]
        for label, backend in zip(rule_labels(http_rule), http_rule.backends, strict=True):
            if label == rollout.spec.canary:
                previews[rule] = PreviewRoute(
                    tuple(header.headers), backend.service, backend.subset
                )
    return previews
