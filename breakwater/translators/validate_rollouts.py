"""Checks of Rollout documents against the routes they drive, each located on its line.

A rollout must name an existing HTTPRoute rule and two of that rule's
backends; one rule has at most one rollout (two would fight over its
weights); and its weight steps only go up, because a step down is what a
rollback does, and a rollback is `breakwater rollout abort`, not a step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from breakwater.translators.documents import RawDocument, YamlPath
from breakwater.translators.model import Document
from breakwater.translators.overrides import rule_labels
from breakwater.translators.refused import Refused
from breakwater.translators.rollout_model import Rollout
from breakwater.translators.route_model import HTTPRoute, rule_index_of

Report = Callable[[Document, RawDocument, YamlPath, str], None]


def check_rollouts(
    report: Report,
    routes: Mapping[str, HTTPRoute],
    rollouts: Mapping[str, Rollout],
    raws: Mapping[tuple[str, str], RawDocument],
    refused: Refused,
) -> None:
    driven: dict[tuple[str, int], str] = {}
    for name in sorted(rollouts):
        rollout = rollouts[name]
        raw = raws[("Rollout", name)]
        spec = rollout.spec
        ref = spec.route_ref
        route = routes.get(ref.name)
        if route is None:
            if refused.has("HTTPRoute", ref.name):
                continue  # declared, with errors of its own: those are reported
            known = ", ".join(sorted(routes)) or "none declared"
            report(
                rollout,
                raw,
                ("spec", "routeRef", "name"),
                f"HTTPRoute {ref.name!r} is not declared; declared routes: {known}",
            )
            continue
        index = rule_index_of(route, ref.rule)
        if index is None:
            named = [r.name for r in route.spec.rules if r.name]
            report(
                rollout,
                raw,
                ("spec", "routeRef", "rule"),
                f"HTTPRoute {ref.name!r} has no rule {ref.rule!r}; it has rules 0 to "
                f"{len(route.spec.rules) - 1}" + (f" (named {', '.join(named)})" if named else ""),
            )
            continue
        labels = rule_labels(route.spec.rules[index])
        for field in ("stable", "canary"):
            label = getattr(spec, field)
            if label not in labels:
                report(
                    rollout,
                    raw,
                    ("spec", field),
                    f"{field} {label!r} is not a backend of HTTPRoute {ref.name!r} rule {index}; "
                    f"its backends: {', '.join(labels)}",
                )
        owner = driven.setdefault((ref.name, index), name)
        if owner != name:
            report(
                rollout,
                raw,
                ("spec", "routeRef"),
                f"Rollout {owner!r} already drives HTTPRoute {ref.name!r} rule {index}; "
                "one rule has one rollout: merge the two or point this one at another rule",
            )
        highest = 0
        for s_index, step in enumerate(spec.steps):
            if step.set_weight is None:
                continue
            if step.set_weight < highest:
                report(
                    rollout,
                    raw,
                    ("spec", "steps", s_index, "setWeight"),
                    f"this step lowers the canary from {highest} % to {step.set_weight} %; "
                    "weight steps only go up (a rollback is `breakwater rollout abort`)",
                )
            highest = max(highest, step.set_weight)
