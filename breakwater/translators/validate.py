"""Checks that span documents: names, references and the effective policies they produce.

Each document is already valid on its own (pydantic did that); what is left
are mistakes only visible across documents, like a route that names a subset
its service does not declare, or a per-try timeout that outlasts the request
timeout once fleet defaults and overrides are merged.

Every check runs whatever the others found, so that one run reports every
mistake; only what a document with errors of its own (`Refused`) would make
false is left out: a reference to it, and a merge it may change once fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from breakwater.translators.documents import RawDocument, YamlPath
from breakwater.translators.durations import format_duration
from breakwater.translators.error_sentences import sentence
from breakwater.translators.errors import PolicyError
from breakwater.translators.model import (
    Document,
    Gateway,
    ResiliencePolicy,
    ResilienceSpec,
    Service,
)
from breakwater.translators.policyset import (
    Effective,
    FieldPath,
    MergeMemo,
    PolicySet,
    SourceRef,
    rule_override,
)
from breakwater.translators.refused import NOTHING, Refused
from breakwater.translators.rollout_model import Rollout
from breakwater.translators.route_model import HTTPRoute
from breakwater.translators.telemetry_model import Telemetry
from breakwater.translators.validate_limits import check_global_limits, check_route_limits
from breakwater.translators.validate_proxyless import check_proxyless
from breakwater.translators.validate_rollouts import check_rollouts
from breakwater.translators.validate_telemetry import check_telemetry


class _Collector:
    """The errors found so far; one mistake found at several places (a merged policy that
    is wrong for a service, each of its subsets and a rule that sends to it) is one error
    that names every place."""

    def __init__(self, refused: Refused) -> None:
        self._found: dict[PolicyError, list[str]] = {}
        self.refused = refused
        self.added = 0
        """Every `add`, counted even when it repeats an error: whether a check found anything."""

    @property
    def errors(self) -> list[PolicyError]:
        return [
            replace(error, message=f"{', '.join(wheres)}: {error.message}") if wheres else error
            for error, wheres in self._found.items()
        ]

    def add(
        self, doc: Document, raw: RawDocument, path: YamlPath, message: str, where: str = ""
    ) -> None:
        error = PolicyError(
            raw.file,
            raw.line_of(path),
            message,
            kind=raw.kind_of(type(doc).__name__),
            name=doc.name,
            field=raw.field_of(path) or None,
        )
        self.added += 1
        wheres = self._found.setdefault(error, [])
        if where and where not in wheres:
            wheres.append(where)


def _check_service_ref(
    out: _Collector,
    services: dict[str, Service],
    doc: Document,
    raw: RawDocument,
    path: YamlPath,
    service: str,
    subset: str | None,
    subset_field: str,
) -> None:
    target = services.get(service)
    if target is None:
        if out.refused.has("Service", service):
            return  # declared, with errors of its own: those are reported
        known = ", ".join(sorted(services)) or "none declared"
        out.add(doc, raw, path, f"service {service!r} is not declared; declared services: {known}")
        return
    if subset is not None and target.spec.subset(subset) is None:
        known = ", ".join(s.name for s in target.spec.subsets) or "none"
        out.add(
            doc,
            raw,
            (*path[:-1], subset_field),
            f"service {service!r} has no subset {subset!r}; its subsets: {known}",
        )


def _check_effective(
    out: _Collector,
    effective: Effective,
    doc: Document,
    raw: RawDocument,
    path: YamlPath,
    where: str,
) -> None:
    spec = effective.spec
    retry, timeout = spec.retry, spec.timeout
    if retry is None or retry.per_try_timeout is None or timeout is None or timeout.request is None:
        return
    if timeout.request and retry.per_try_timeout > timeout.request:
        setter = effective.provenance.get(("retry", "per_try_timeout"), "?")
        request_setter = effective.provenance.get(("timeout", "request"), "?")
        out.add(
            doc,
            raw,
            path,
            f"retry.perTryTimeout {format_duration(retry.per_try_timeout)} (from {setter}) is "
            f"longer than timeout.request {format_duration(timeout.request)} (from {request_setter}); "
            "make perTryTimeout shorter than the request timeout, or no retry can ever start",
            where,
        )


def build_policyset(
    documents: Sequence[tuple[Document, RawDocument]],
    merges: MergeMemo | None = None,
    refused: Refused = NOTHING,
) -> tuple[PolicySet, list[PolicyError]]:
    """The PolicySet of `documents` and every cross-document mistake; `merges` are the
    effective policies an earlier set merged, to reuse where the layers are the same;
    `refused` the documents left out for errors of their own."""
    out = _Collector(refused)
    services: dict[str, Service] = {}
    policies: dict[str, ResiliencePolicy] = {}
    gateways: dict[str, Gateway] = {}
    routes: dict[str, HTTPRoute] = {}
    rollouts: dict[str, Rollout] = {}
    telemetry: dict[str, Telemetry] = {}
    raws: dict[tuple[str, str], RawDocument] = {}
    by_kind: dict[type[Document], dict[str, Document]] = {
        Service: services,  # type: ignore[dict-item]
        ResiliencePolicy: policies,  # type: ignore[dict-item]
        Gateway: gateways,  # type: ignore[dict-item]
        HTTPRoute: routes,  # type: ignore[dict-item]
        Rollout: rollouts,  # type: ignore[dict-item]
        Telemetry: telemetry,  # type: ignore[dict-item]
    }
    for doc, raw in documents:
        kind = type(doc).__name__
        table = by_kind[type(doc)]
        if doc.name in table:
            first = raws[(kind, doc.name)]
            out.add(
                doc,
                raw,
                ("metadata", "name"),
                f"{kind} {doc.name!r} is already declared at {first.file}:{first.line}; names must be unique per kind",
            )
            continue
        table[doc.name] = doc
        raws[(kind, doc.name)] = raw

    for name, policy in policies.items():
        raw = raws[("ResiliencePolicy", name)]
        ref = policy.spec.target_ref
        if ref is not None:
            _check_service_ref(
                out,
                services,
                policy,
                raw,
                ("spec", "targetRef", "name"),
                ref.name,
                ref.subset,
                "subset",
            )
        failover = policy.spec.failover
        if failover is not None and failover.to is not None:
            _check_service_ref(
                out,
                services,
                policy,
                raw,
                ("spec", "failover", "to"),
                failover.to,
                failover.subset,
                "subset",
            )
            if ref is not None and failover.to == ref.name and failover.subset == ref.subset:
                out.add(
                    policy,
                    raw,
                    ("spec", "failover", "to"),
                    "a service cannot fail over to itself; name another service (or subset)",
                )

    hosts_by_gateway: dict[tuple[str, str], str] = {}
    for name, route in routes.items():
        raw = raws[("HTTPRoute", name)]
        for index, gateway in enumerate(route.spec.gateways):
            if gateway not in gateways:
                if refused.has("Gateway", gateway):
                    continue
                known = ", ".join(sorted(gateways)) or "none declared"
                out.add(
                    route,
                    raw,
                    ("spec", "gateways", index),
                    f"gateway {gateway!r} is not declared; declared gateways: {known}",
                )
                continue
            if raw.origin is not None:
                continue  # Gateway API routes share hostnames: merged by precedence
            for h_index, host in enumerate(route.spec.hostnames):
                owner = hosts_by_gateway.setdefault((gateway, host.lower()), name)
                if owner != name:
                    out.add(
                        route,
                        raw,
                        ("spec", "hostnames", h_index),
                        f"hostname {host!r} on gateway {gateway!r} is already served by HTTPRoute "
                        f"{owner!r}; give each route on a gateway its own hostnames",
                    )
        for r_index, rule in enumerate(route.spec.rules):
            for b_index, backend in enumerate(rule.backends):
                _check_service_ref(
                    out,
                    services,
                    route,
                    raw,
                    ("spec", "rules", r_index, "backends", b_index, "service"),
                    backend.service,
                    backend.subset,
                    "subset",
                )
            if rule.mirror is not None:
                _check_service_ref(
                    out,
                    services,
                    route,
                    raw,
                    ("spec", "rules", r_index, "mirror", "service"),
                    rule.mirror.service,
                    rule.mirror.subset,
                    "subset",
                )

    check_rollouts(out.add, routes, rollouts, raws, refused)

    sources = {key: SourceRef(raw.file, raw.line) for key, raw in raws.items()}
    policyset = PolicySet(
        services=services,
        policies=policies,
        gateways=gateways,
        routes=routes,
        sources=sources,
        rollouts=rollouts,
        telemetry=telemetry,
    )
    if merges is not None:
        policyset.__dict__["_merged"] = merges
    check_telemetry(out.add, policyset, raws, refused)
    check_global_limits(out.add, policyset, raws, refused)
    check_proxyless(out.add, policyset, raws, refused)

    for name, service in services.items():
        if refused.may_change("ResiliencePolicy", name):
            continue
        for subset in [None, *(s.name for s in service.spec.subsets)]:
            where = f"service {name}" + (f" subset {subset}" if subset else "")
            try:
                effective = policyset.effective_for_cluster(name, subset)
            except ValidationError as exc:
                _report_merge(out, policyset, raws, exc, name, subset, None, where)
                continue
            _check_adaptive_fits(out, policyset, effective, raws, service, where)
            if merges is not None and merges.checked(effective):
                continue
            found = out.added
            _report_on_setter(out, policyset, effective, raws, where)
            if merges is not None and out.added == found:
                merges.passed(effective)
    for name, route in routes.items():
        _check_rule_policies(out, policyset, merges, raws, name, route)
    return policyset, out.errors


def _check_rule_policies(
    out: _Collector,
    policyset: PolicySet,
    merges: MergeMemo | None,
    raws: Mapping[tuple[str, str], RawDocument],
    name: str,
    route: HTTPRoute,
) -> None:
    """The merged policy of each of the route's rules, checked where it was not before."""
    refused, raw = out.refused, raws[("HTTPRoute", name)]
    for r_index, rule in enumerate(route.spec.rules):
        services_of_rule = {b.service for b in rule.backends}
        one = next(iter(services_of_rule)) if len(services_of_rule) == 1 else None
        if refused.may_change("ResiliencePolicy", one):
            continue
        where = f"HTTPRoute {name} rule {r_index}"
        try:
            effective = policyset.effective_for_rule(name, r_index)
        except ValidationError as exc:
            backends = {(b.service, b.subset) for b in rule.backends}
            one_service = next(iter(backends))[0] if len({b[0] for b in backends}) == 1 else None
            one_subset = next(iter(backends))[1] if len(backends) == 1 else None
            target = (route, raw, r_index)
            _report_merge(out, policyset, raws, exc, one_service, one_subset, target, where)
            continue
        if merges is not None and merges.checked(effective):
            continue
        found = out.added
        if _set_by_rule(effective):
            _check_effective(out, effective, route, raw, ("spec", "rules", r_index), where)
        else:  # the policies' mistake, reported on the policy that set it
            _report_on_setter(out, policyset, effective, raws, where)
        if merges is not None and out.added == found:
            merges.passed(effective)


def recheck_routes(
    policyset: PolicySet,
    merges: MergeMemo,
    raws: Mapping[tuple[str, str], RawDocument],
    changed: Sequence[str],
) -> bool:
    """Whether a set that passed `build_policyset`, with only the rules of the `changed`
    routes made anew (same gateways, hostnames and backends, so no name, reference or
    hostname check can come out otherwise), still passes every check.

    What it visits is what those routes affect: their rules' merged policies and global
    limits, and the Rollouts and Telemetry (a few documents) that may name them. False
    means a mistake was found, or a route attached to a Service changed (what gRPC clients
    can carry out is checked the whole way): `build_policyset` then says which, with every
    place, as it always does.
    """
    if any(policyset.routes[name].spec.services for name in changed):
        return False  # a mesh route's rules are checked against what gRPC clients can do
    out = _Collector(NOTHING)
    check_rollouts(out.add, policyset.routes, policyset.rollouts, raws, NOTHING)
    check_telemetry(out.add, policyset, raws, NOTHING)
    for name in changed:
        route = policyset.routes[name]
        _check_rule_policies(out, policyset, merges, raws, name, route)
        check_route_limits(out.add, policyset.gateways, route, raws[("HTTPRoute", name)])
    return out.added == 0


def _set_by_rule(effective: Effective) -> bool:
    """Whether the rule itself set the retry or request timeout its merged policy checks."""
    return any(
        effective.provenance.get(field, "").startswith("HTTPRoute/")
        for field in (("retry", "per_try_timeout"), ("timeout", "request"))
    )


def _setter(
    policyset: PolicySet,
    effective: Effective,
    raws: Mapping[tuple[str, str], RawDocument],
    field: FieldPath,
) -> tuple[ResiliencePolicy, RawDocument] | None:
    """The policy document that set an effective field, and where it was read from."""
    kind, _, name = effective.provenance.get(field, "").partition("/")
    raw = raws.get((kind, name))
    doc = policyset.policies.get(name)
    return None if raw is None or doc is None else (doc, raw)


def _report_on_setter(
    out: _Collector,
    policyset: PolicySet,
    effective: Effective,
    raws: Mapping[tuple[str, str], RawDocument],
    where: str,
) -> None:
    """Blame the document that set the offending field, since that is the one to edit."""
    found = _setter(policyset, effective, raws, ("retry", "per_try_timeout"))
    if found is not None:
        _check_effective(out, effective, *found, ("spec", "retry", "perTryTimeout"), where)
    bulkhead = effective.spec.bulkhead
    if (
        bulkhead is not None
        and bulkhead.max_queued_requests == 0
        and bulkhead.max_concurrent_requests is None
    ):
        found = _setter(policyset, effective, raws, ("bulkhead", "max_queued_requests"))
        if found is not None:
            out.add(
                *found,
                ("spec", "bulkhead", "maxQueuedRequests"),
                "maxQueuedRequests 0 without maxConcurrentRequests would refuse every "
                "request (Envoy counts a request as queued while its connection opens); set "
                "bulkhead.maxConcurrentRequests too, or allow a queue above 0",
            )


def _check_adaptive_fits(
    out: _Collector,
    policyset: PolicySet,
    effective: Effective,
    raws: dict[tuple[str, str], RawDocument],
    service: Service,
    where: str,
) -> None:
    """An adaptive concurrency limit counts a request's latency until its last byte, so a
    stream's whole life is one sample; a gRPC service may stream, and would shrink its limit."""
    bulkhead = effective.spec.bulkhead
    if service.spec.protocol != "grpc" or bulkhead is None or bulkhead.adaptive is None:
        return
    # Provenance holds leaves: whoever set a field of `adaptive` (the last one merged wins).
    fields = [path for path in effective.provenance if path[:2] == ("bulkhead", "adaptive")]
    found = _setter(policyset, effective, raws, fields[-1]) if fields else None
    if found is None:
        return
    out.add(
        *found,
        ("spec", "bulkhead", "adaptive"),
        f"service {service.name!r} speaks gRPC, whose streams Envoy's adaptive concurrency "
        "would time as single requests lasting the whole stream, shrinking the limit and "
        "refusing calls; use bulkhead.maxConcurrentRequests for it, or target an HTTP service",
        where,
    )


def _report_merge(
    out: _Collector,
    policyset: PolicySet,
    raws: Mapping[tuple[str, str], RawDocument],
    exc: ValidationError,
    service: str | None,
    subset: str | None,
    rule: tuple[HTTPRoute, RawDocument, int] | None,
    where: str,
) -> None:
    """Policies valid one by one can merge into an invalid whole; blame the most specific setter."""
    layers = policyset._policy_layers(service, subset)
    names = ", ".join(who for who, _ in layers)
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        field = tuple(to_camel(part) for part in loc)
        message = sentence(ResilienceSpec, error, field)
        text = f"{'.'.join(field)}: {message} once merged with {names or 'the defaults'}"
        if rule is not None and loc[:1] and loc[0] in rule_override(rule[0].spec.rules[rule[2]]):
            out.add(rule[0], rule[1], ("spec", "rules", rule[2], *field), text, where)
            continue
        for who, spec in reversed(layers):
            name = who.partition("/")[2]
            if not loc or loc[0] in spec.model_fields_set or who == layers[0][0]:
                out.add(
                    policyset.policies[name],
                    raws[("ResiliencePolicy", name)],
                    ("spec", *field),
                    text,
                    where,
                )
                break
        else:  # pragma: no cover - a merge of nothing is the valid default
            if rule is not None:
                out.add(rule[0], rule[1], ("spec", "rules", rule[2]), text, where)
