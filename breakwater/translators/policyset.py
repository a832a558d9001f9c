"""A validated, immutable set of policy documents, and the effective policy at each level.

Precedence follows Kuma: fleet default < service < service+subset < route rule.
Merging is field by field (RFC 7386: maps merge, lists replace), and every
effective field remembers which document set it, so `explain` can answer
"why is this 3?".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from typing import Any

from breakwater.translators.gateway_api.status import GatewayApiState
from breakwater.translators.model import Gateway, ResiliencePolicy, ResilienceSpec, Service
from breakwater.translators.model_parts import HeaderMatch
from breakwater.translators.names import Target
from breakwater.translators.rollout_model import Rollout
from breakwater.translators.route_model import HTTPRoute, RouteRule
from breakwater.translators.shared_parts import held_once, same_value
from breakwater.translators.telemetry_model import Telemetry, TelemetrySpec

FieldPath = tuple[str, ...]
Provenance = dict[FieldPath, str]
"""Effective field (snake_case path under the spec) → who set it, e.g. `ResiliencePolicy/payments-retry`."""
DrainedEndpoints = Mapping[str, frozenset[str]]
"""Service name → its endpoints (`ADDRESS:PORT`) drained through the API that the YAML lists."""


@dataclass(frozen=True)
class SourceRef:
    """Where a document came from, for error messages and `explain`."""

    file: str
    line: int


@dataclass(frozen=True)
class PreviewRoute:
    """Requests with these headers go to one backend whatever the rule's weights: a rollout's
    header stage. Emitted as an Envoy route just before each of the rule's own."""

    headers: tuple[HeaderMatch, ...]
    service: str
    subset: str | None


@dataclass(frozen=True)
class Effective:
    """The merged policy for one level, with the origin of every field that anyone set."""

    spec: ResilienceSpec
    provenance: Provenance


@dataclass(frozen=True)
class EffectiveTelemetry:
    """The merged Telemetry of a gateway (or of a route on it), with the origin of every field."""

    spec: TelemetrySpec
    provenance: Provenance


def backend_label(service: str, subset: str | None) -> str:
    """How a backend is named to operators: its subset when it has one, else its service."""
    return subset if subset is not None else service


_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None), list, tuple, timedelta})
"""Types that are never mappings: checked before `isinstance(value, Mapping)`, whose answer
for them takes the ABC machinery's slow path."""


def _is_mapping(value: object) -> bool:
    kind = type(value)
    return kind is dict or (kind not in _PLAIN and isinstance(value, Mapping))


def _merge(
    base: dict[str, Any],
    patch: Mapping[str, Any],
    who: str,
    provenance: Provenance,
    prefix: FieldPath,
) -> None:
    for key, value in patch.items():
        path = same_value((*prefix, key))
        mapping = _is_mapping(value)
        if key in base:
            if mapping and type(base[key]) is dict:
                _merge(base[key], value, who, provenance, path)
                continue
            # Only a key set before has provenance under it.
            for known in [p for p in provenance if p[: len(path)] == path]:
                del provenance[known]
        if mapping:
            base[key] = dict(value)
            _record(value, who, provenance, path)
        else:
            base[key] = value
            provenance[path] = who


def _record(value: Mapping[str, Any], who: str, provenance: Provenance, prefix: FieldPath) -> None:
    for key, inner in value.items():
        path = same_value((*prefix, key))
        if inner and _is_mapping(inner):
            _record(inner, who, provenance, path)
        else:
            provenance[path] = who


def _set_fields(spec: ResilienceSpec) -> dict[str, Any]:
    dumped = spec.model_dump(exclude_unset=True, exclude={"target_ref"})
    return dumped


def merge_patches(
    layers: Iterable[tuple[str, Mapping[str, Any]]],
) -> tuple[dict[str, Any], Provenance]:
    """Merge patches from least to most specific; the last writer of a field wins."""
    merged: dict[str, Any] = {}
    provenance: Provenance = {}
    for who, patch in layers:
        _merge(merged, patch, who, provenance, ())
    return merged, provenance


Shapes = dict[str, tuple[ResilienceSpec, dict[FieldPath, int]]]
"""The layers' contents (the `repr` of their patches) → the merged spec and, for each field,
the index of the layer that set it."""


def merge_layers(
    layers: list[tuple[str, ResilienceSpec | dict[str, Any]]], shapes: Shapes | None = None
) -> Effective:
    """Merge policy layers from least to most specific; the last writer of a field wins.

    `shapes`: merges done before by content. Ten thousand services with policies that
    differ by name alone are one merge and one validation: the spec is shared (it is
    immutable), and each field's provenance names the layer of this merge at the index
    that set it there. The content is the `repr` of the patches, which hold what
    `model_dump` gives (strings, numbers, booleans, timedeltas, lists and dicts): their
    `repr` is their value.
    """
    patches = [
        (who, _set_fields(layer) if isinstance(layer, ResilienceSpec) else layer)
        for who, layer in layers
    ]
    if shapes is None:
        merged, provenance = merge_patches(patches)
        spec = held_once(ResilienceSpec, merged, ResilienceSpec.model_validate)
        return Effective(spec=spec, provenance=provenance)
    key = repr([patch for _, patch in patches])
    found = shapes.get(key)
    if found is None:
        merged, by_index = merge_patches((str(i), patch) for i, (_, patch) in enumerate(patches))
        spec = held_once(ResilienceSpec, merged, ResilienceSpec.model_validate)
        found = shapes[key] = (spec, {path: int(index) for path, index in by_index.items()})
    spec, setters = found
    return Effective(spec=spec, provenance={path: layers[i][0] for path, i in setters.items()})


def rule_override(rule: RouteRule) -> dict[str, Any]:
    """The part of a route rule that overrides resilience settings, as a merge patch."""
    patch: dict[str, Any] = {}
    if rule.retry is not None:
        patch["retry"] = rule.retry.model_dump(exclude_unset=True)
    if rule.timeout is not None:
        patch["timeout"] = rule.timeout.model_dump(exclude_unset=True)
    if rule.fallback is not None:
        patch["fallback"] = rule.fallback.model_dump(exclude_unset=True)
    return patch


_MergeKey = tuple[tuple[str, int], ...]
_SHAPES_KEPT = 4096
"""Past this many merges by content, the next generation starts afresh (edits that keep
changing a policy's values would otherwise add shapes for ever)."""


class MergeMemo:
    """Effective policies merged so far, found again by the very layer objects they came from.

    A merge depends only on its layers, and a layer is an immutable document
    part (a policy's spec, or the rule whose own settings go on top), so the
    key is each layer's name and object identity: a reload whose policy
    files did not change finds every merge done, an edited policy only
    misses the merges it is a layer of. Each entry keeps its layers alive,
    so an identity in a key can never be reused by another object while the
    entry exists. One generation serves one PolicySet (and the sets laid
    over it); the next generation keeps only what the one before used.
    """

    def __init__(
        self,
        earlier: dict[_MergeKey, tuple[tuple[object, ...], Effective]] | None = None,
        passed: dict[int, Effective] | None = None,
        shapes: Shapes | None = None,
    ):
        self._earlier = earlier or {}
        self._shapes: Shapes = shapes if shapes is not None else {}
        """Merges by content (`merge_layers`), kept across generations: a handful of shapes
        however many documents."""
        self._used: dict[_MergeKey, tuple[tuple[object, ...], Effective]] = {}
        self._passed = passed or {}
        """id → merged policies that passed the checks on merged policies (which look at
        nothing else), so a reload checks only the merges that are new."""

    def next_generation(self) -> MergeMemo:
        """A memo for the next PolicySet that remembers what this one merged."""
        kept = dict(self._used or self._earlier)
        alive = {id(effective) for _, effective in kept.values()}
        passed = {k: v for k, v in self._passed.items() if k in alive}
        shapes = self._shapes if len(self._shapes) <= _SHAPES_KEPT else None
        return MergeMemo(kept, passed, shapes)

    def checked(self, effective: Effective) -> bool:
        """Whether `effective` passed the checks of merged policies before."""
        return self._passed.get(id(effective)) is effective

    def passed(self, effective: Effective) -> None:
        self._passed[id(effective)] = effective

    def merge(
        self, layers: list[tuple[str, ResilienceSpec | dict[str, Any]]], sources: list[object]
    ) -> Effective:
        """`merge_layers(layers)`; `sources[i]` is the immutable object layer i was taken from."""
        key = tuple((who, id(source)) for (who, _), source in zip(layers, sources, strict=True))
        found = self._used.get(key) or self._earlier.get(key)
        if found is None:
            found = (tuple(sources), merge_layers(layers, self._shapes))
        self._used[key] = found
        return found[1]


@dataclass(frozen=True)
class PolicySet:
    """Everything that was valid at one moment; translators read only this."""

    services: Mapping[str, Service] = field(default_factory=dict)
    policies: Mapping[str, ResiliencePolicy] = field(default_factory=dict)
    gateways: Mapping[str, Gateway] = field(default_factory=dict)
    routes: Mapping[str, HTTPRoute] = field(default_factory=dict)
    sources: Mapping[tuple[str, str], SourceRef] = field(default_factory=dict)
    """(kind, name) → where the document was read from."""
    rollouts: Mapping[str, Rollout] = field(default_factory=dict)
    previews: Mapping[tuple[str, int], PreviewRoute] = field(default_factory=dict)
    """(route, rule) → the header route a rollout laid over it (never from the YAML itself)."""
    telemetry: Mapping[str, Telemetry] = field(default_factory=dict)
    drained: DrainedEndpoints = field(default_factory=dict)
    """Endpoints sent to Envoy as DRAINING (never from the YAML itself: see `drains`)."""
    gateway_api: GatewayApiState = field(default_factory=GatewayApiState)
    """Which gateways and routes came from the Gateway API, and each such route's status."""

    @cached_property
    def _layers_by_target(
        self,
    ) -> dict[tuple[str, str | None] | None, list[tuple[str, ResilienceSpec]]]:
        """Policies grouped by what they target, each group in name order; built once per set."""
        index: dict[tuple[str, str | None] | None, list[tuple[str, ResilienceSpec]]] = {}
        for name in sorted(self.policies):
            spec = self.policies[name].spec
            ref = spec.target_ref
            key = None if ref is None else (ref.name, ref.subset)
            index.setdefault(key, []).append((f"ResiliencePolicy/{name}", spec))
        return index

    def _policy_layers(
        self, service: str | None, subset: str | None
    ) -> list[tuple[str, ResilienceSpec]]:
        """Fleet defaults, then the service's, then the subset's; within a level, by name."""
        index = self._layers_by_target
        layers = list(index.get(None, []))
        if service is not None:
            layers += index.get((service, None), [])
            if subset is not None:
                layers += index.get((service, subset), [])
        return layers

    def with_routes(
        self, routes: Mapping[str, HTTPRoute], changed: Iterable[str] | None = None
    ) -> PolicySet:
        """The same set with other route weights; merges done so far still hold.

        Only weights may differ: they never enter a merge, so the memo of
        effective policies carries over instead of being rebuilt per write.
        The rules of a route that is another object are looked up again (by
        their layers). `changed`: the names of the routes that are other objects, when the
        caller knows them (else every route is compared).
        """
        return self._sharing(replace(self, routes=routes), rules=False, routes_changed=changed)

    def with_route_documents(
        self,
        routes: Mapping[str, HTTPRoute],
        sources: Mapping[tuple[str, str], SourceRef],
        changed: Iterable[str] | None = None,
    ) -> PolicySet:
        """The same set with some routes read again (and documents that moved in their
        files): merges done so far still hold, as the memo finds a merge by the identity of
        its layers, and the rules of a route that is another object are looked up again."""
        return self._sharing(
            replace(self, routes=routes, sources=sources), rules=False, routes_changed=changed
        )

    def with_previews(self, previews: Mapping[tuple[str, int], PreviewRoute]) -> PolicySet:
        """The same set with rollout header routes laid over rules; merges done so far still hold."""
        return self._sharing(replace(self, previews=previews), rules=True)

    def with_drained(self, drained: DrainedEndpoints) -> PolicySet:
        """The same set with other endpoints drained; merges done so far still hold."""
        return self._sharing(replace(self, drained=drained), rules=True)

    def with_services(self, services: Mapping[str, Service]) -> PolicySet:
        """The same set with other endpoints for its Services (registered instances laid over
        the YAML's); merges done so far still hold, as no merge reads an endpoint."""
        return self._sharing(replace(self, services=services), rules=True)

    def with_gateway_api(self, state: GatewayApiState) -> PolicySet:
        """The same set with the status of its Gateway API documents; merges done so far hold."""
        return self._sharing(replace(self, gateway_api=state), rules=True)

    def _sharing(
        self, changed: PolicySet, *, rules: bool, routes_changed: Iterable[str] | None = None
    ) -> PolicySet:
        """`changed` (this set with other routes, previews or drains) with this set's memos."""
        for memo in ("_merged", "_layers_by_target", "_cluster_levels"):
            changed.__dict__[memo] = getattr(self, memo)
        if rules:
            changed.__dict__["_rule_levels"] = self._rule_levels
        elif routes_changed is not None:  # a copy without the changed routes' rules
            levels = dict(self._rule_levels)
            for name in routes_changed:
                before, after = self.routes.get(name), changed.routes.get(name)
                count = max(len(r.spec.rules) if r is not None else 0 for r in (before, after))
                for index in range(count):
                    levels.pop((name, index), None)
            changed.__dict__["_rule_levels"] = levels
        else:  # the rules of routes that are the same objects keep their effective policies
            changed.__dict__["_rule_levels"] = {
                (route, index): effective
                for (route, index), effective in self._rule_levels.items()
                if changed.routes.get(route) is self.routes.get(route)
            }
        return changed

    @cached_property
    def _cluster_levels(self) -> dict[Target, Effective]:
        """(service, subset) → its effective policy, as asked of this set (and the sets laid over it)."""
        return {}

    @cached_property
    def _rule_levels(self) -> dict[tuple[str, int], Effective]:
        """(route, rule) → its effective policy, as asked of this set."""
        return {}

    @cached_property
    def _merged(self) -> MergeMemo:
        """Merges already done; `build_policyset` hands in one that remembers the last set's."""
        return MergeMemo()

    def effective_for_cluster(self, service: str, subset: str | None = None) -> Effective:
        """The policy that shapes the Envoy cluster of a service (or of one of its subsets)."""
        found = self._cluster_levels.get((service, subset))
        if found is None:
            layers = self._policy_layers(service, subset)
            found = self._merged.merge(list(layers), [spec for _, spec in layers])
            self._cluster_levels[(service, subset)] = found
        return found

    def effective_for_rule(self, route: str, rule_index: int) -> Effective:
        """The policy that shapes one route rule: retries, timeouts and fallbacks live on Envoy routes.

        A rule that splits across services takes only the fleet default from
        policies; one that splits across subsets of one service takes that
        service's; a rule with one backend takes its subset's too. The rule's own
        `retry`/`timeout`/`fallback` override all of them.
        """
        found = self._rule_levels.get((route, rule_index))
        if found is None:
            found = self._rule_levels[(route, rule_index)] = self._effective_for_rule(
                route, rule_index
            )
        return found

    def _effective_for_rule(self, route: str, rule_index: int) -> Effective:
        rule = self.routes[route].spec.rules[rule_index]
        services = {b.service for b in rule.backends}
        targets = {(b.service, b.subset) for b in rule.backends}
        service = next(iter(services)) if len(services) == 1 else None
        subset = next(iter(targets))[1] if len(targets) == 1 else None
        policy_layers = self._policy_layers(service, subset)
        layers: list[tuple[str, ResilienceSpec | dict[str, Any]]] = list(policy_layers)
        sources: list[object] = [spec for _, spec in policy_layers]
        override = rule_override(rule)
        if override:
            layers.append((f"HTTPRoute/{route} rule {rule_index}", override))
            sources.append(rule)
        return self._merged.merge(layers, sources)

    def telemetry_layers(
        self, gateway: str, route: str | None = None
    ) -> list[tuple[str, TelemetrySpec]]:
        """Every gateway's Telemetry, then the gateway's own, then the route's; within a level, by name."""
        wanted: list[tuple[str, str] | None] = [None, ("Gateway", gateway)]
        if route is not None:
            wanted.append(("HTTPRoute", route))
        layers: list[tuple[str, TelemetrySpec]] = []
        for target in wanted:
            for name in sorted(self.telemetry):
                spec = self.telemetry[name].spec
                ref = spec.target_ref
                if (None if ref is None else (ref.kind, ref.name)) == target:
                    layers.append((f"Telemetry/{name}", spec))
        return layers

    def effective_telemetry(self, gateway: str, route: str | None = None) -> EffectiveTelemetry:
        """What a gateway's connection manager (or, with `route`, that route on it) traces and logs."""
        merged, provenance = merge_patches(
            (who, spec.merge_patch()) for who, spec in self.telemetry_layers(gateway, route)
        )
        return EffectiveTelemetry(TelemetrySpec.from_merged(merged), provenance)
