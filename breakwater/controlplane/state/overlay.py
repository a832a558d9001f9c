"""The served policy set: the YAML's, with what the state store holds laid over it.

Weight overrides, endpoint drains and rollout progress are state, not policy
(docs/design.md); this is the one place they meet the base PolicySet, as a pure
function, so that the controller only keeps state and publishes, and the
overlay can be tested without a store or a directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from breakwater.controlplane.state.rollout_rules import rollout_previews
from breakwater.controlplane.state.store import Drain, WeightOverride
from breakwater.translators.drains import applied_drains
from breakwater.translators.overrides import DroppedOverride, apply_overrides
from breakwater.translators.policyset import DrainedEndpoints, PolicySet
from breakwater.translators.registration import RegisteredEndpoint, draining_instances


def overlay(
    base: PolicySet,
    overrides: Iterable[WeightOverride],
    drains: Mapping[tuple[str, str], Drain],
    rollouts: dict[str, dict[str, Any]],
    instances: Iterable[RegisteredEndpoint] = (),
) -> tuple[PolicySet, list[DroppedOverride]]:
    """The PolicySet to serve, and the overrides that no longer fit the base's rules.

    `base` holds the registered instances already (`RegisteredServices`). Overrides replace
    their rules' weights; drains, and the instances that drain before they leave, mark the
    endpoints the base still lists, beside those the source itself drains (a Kubernetes pod
    that is terminating); a rollout's progress previews its step (weights and header route)
    on its rule.
    """
    effective, dropped = apply_overrides(base, overrides)
    effective = effective.with_drained(
        _union(base.drained, applied_drains(base, [*drains, *draining_instances(instances)]))
    )
    previews = rollout_previews(base, rollouts)
    if previews:
        effective = effective.with_previews(previews)
    return effective, dropped


def _union(source: DrainedEndpoints, api: DrainedEndpoints) -> DrainedEndpoints:
    """The source's own drains and the API's, by service."""
    if not source:
        return api
    merged = dict(source)
    for service, keys in api.items():
        merged[service] = merged.get(service, frozenset()) | keys
    return {service: merged[service] for service in sorted(merged)}
