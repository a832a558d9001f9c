"""HTTPRoutes → the route configuration of each gateway: virtual hosts, rules, their policy.

Each HTTPRoute attached to a gateway becomes a virtual host whose domains are
its hostnames (lowercased: Envoy matches hosts without regard to case and
refuses duplicates that differ only in case); validation keeps Breakwater's
routes on one gateway apart. Gateway API routes may share hostnames: the
routes of a hostname share one virtual host, in the Gateway API's precedence
(`gateway_api.ordering`). Each rule carries what its Envoy routes say: the
cluster each backend is routed to, the rule's effective policy, the hash
keys its backends' clusters need, its admission control level and a
rollout's header stage.
"""

from __future__ import annotations

from breakwater.translators.capacity_model import AdaptiveConcurrency
from breakwater.translators.gateway_api.ordering import share_hostnames
from breakwater.translators.ir.gateways import route_sampling, service_wide, traced_routes
from breakwater.translators.ir.memo import Memo
from breakwater.translators.ir.nodes import (
    AdaptiveFilter,
    AdmissionFilter,
    Backend,
    GlobalLimit,
    Preview,
    RouteConfiguration,
    Rule,
    Sampling,
    VirtualHost,
)
from breakwater.translators.ir.upstreams import ClusterPolicies, attached_routes
from breakwater.translators.names import (
    cluster_name,
    gateway_global_limit_key,
    route_config_name,
    route_global_limit_key,
    rule_global_limit_key,
)
from breakwater.translators.policyset import Effective, PolicySet, PreviewRoute
from breakwater.translators.route_model import HTTPRoute, RouteRule
from breakwater.translators.traffic_model import RateLimit


def rule_level(rule: RouteRule) -> str:
    """The policy level of a rule, as `PolicySet.effective_for_rule` chooses it."""
    services = {b.service for b in rule.backends}
    targets = {(b.service, b.subset) for b in rule.backends}
    if len(services) != 1:
        return "fleet"
    service, subset = next(iter(targets)) if len(targets) == 1 else (next(iter(services)), None)
    return cluster_name(service, subset)


def resolve_rule(
    policyset: PolicySet, policies: ClusterPolicies, route: HTTPRoute, index: int, memo: Memo
) -> Rule:
    """Reads the route's document, the rule's effective policy, each backend's cluster level
    and where it is routed, and a rollout's header stage."""
    rule = route.spec.rules[index]
    effective = policyset.effective_for_rule(route.name, index)
    routed = tuple(policies.routed_cluster_name(b.service, b.subset) for b in rule.backends)
    levels = tuple(policies.effective(b.service, b.subset) for b in rule.backends)
    preview = policyset.previews.get((route.name, index))
    preview_cluster = (
        None if preview is None else policies.routed_cluster_name(preview.service, preview.subset)
    )

    key = (
        "rule",
        id(route),
        index,
        id(effective),
        routed,
        tuple(map(id, levels)),
        id(preview),
        preview_cluster,
    )
    return memo.get(
        key, _make_rule, route, index, effective, routed, levels, preview, preview_cluster
    )


def _make_rule(
    route: HTTPRoute,
    index: int,
    effective: Effective,
    routed: tuple[str, ...],
    levels: tuple[Effective, ...],
    preview: PreviewRoute | None,
    preview_cluster: str | None,
) -> Rule:
    rule = route.spec.rules[index]
    return Rule(
        route.name,
        index,
        tuple(rule.matches),
        tuple(Backend(c, b.weight) for c, b in zip(routed, rule.backends, strict=True)),
        None if rule.sticky is None else rule.sticky.header,
        tuple(level.spec.load_balancer for level in levels),
        effective,
        rule.fault,
        rule.rate_limit,
        rule.mirror,
        rule.request_headers,
        rule.response_headers,
        rule.redirect,
        rule.direct_response,
        rule.rewrite,
        rule_level(rule) if service_wide(effective.spec.circuit_breaker) else None,
        rule_level(rule) if adaptive_of(effective) is not None else None,
        global_limit(rule_global_limit_key(route.name, index), rule.rate_limit),
        None
        if preview is None or preview_cluster is None
        else Preview(tuple(preview.headers), preview_cluster),
    )


def global_limit(key: str, limit: RateLimit | None) -> GlobalLimit | None:
    return None if limit is None or limit.global_ is None else GlobalLimit(key, limit.global_)


def adaptive_of(effective: Effective) -> AdaptiveConcurrency | None:
    bulkhead = effective.spec.bulkhead
    return None if bulkhead is None else bulkhead.adaptive


def _domains(route: HTTPRoute) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h.lower() for h in route.spec.hostnames))


def route_host(
    route: HTTPRoute,
    rules: tuple[Rule, ...],
    tracing: Sampling | None,
    levels: tuple[str, ...],
    adaptive_levels: tuple[str, ...],
    gateway_limit: GlobalLimit | None,
    memo: Memo,
) -> VirtualHost:
    """A Breakwater route's own virtual host: reads its document, its rules' nodes, its
    tracing, the gateway's admission and adaptive concurrency levels and its global limit."""
    key = (
        "host",
        id(route),
        tuple(map(id, rules)),
        tracing,
        levels,
        adaptive_levels,
        gateway_limit,
    )
    return memo.get(key, _make_host, route, rules, tracing, levels, adaptive_levels, gateway_limit)


def _make_host(
    route: HTTPRoute,
    rules: tuple[Rule, ...],
    tracing: Sampling | None,
    levels: tuple[str, ...],
    adaptive_levels: tuple[str, ...],
    gateway_limit: GlobalLimit | None,
) -> VirtualHost:
    return VirtualHost(
        route.name,
        _domains(route),
        rules,
        route.spec.rate_limit,
        global_limit(route_global_limit_key(route.name), route.spec.rate_limit) or gateway_limit,
        tracing,
        levels,
        adaptive_levels,
        False,
    )


def resolve_route_configuration(
    policyset: PolicySet, policies: ClusterPolicies, gateway: str, memo: Memo
) -> tuple[RouteConfiguration, list[AdmissionFilter], list[AdaptiveFilter]]:
    """The gateway's route configuration (a gateway without routes gets an empty one: Envoy
    answers 404), and the admission control and adaptive concurrency levels its rules use, in
    rule order."""
    attached = attached_routes(policyset, gateway)
    rules = {
        route.name: tuple(
            resolve_rule(policyset, policies, route, i, memo) for i in range(len(route.spec.rules))
        )
        for route in attached
    }
    admission = [
        AdmissionFilter(rule.admission, rule.policy.spec.circuit_breaker)
        for route in attached
        for rule in rules[route.name]
        if rule.admission is not None and rule.policy.spec.circuit_breaker is not None
    ]
    levels = tuple(sorted({f.level for f in admission}))
    adaptive = [
        AdaptiveFilter(rule.adaptive, found)
        for route in attached
        for rule in rules[route.name]
        if rule.adaptive is not None and (found := adaptive_of(rule.policy)) is not None
    ]
    adaptive_levels = tuple(sorted({f.level for f in adaptive}))
    gateway_limit = global_limit(
        gateway_global_limit_key(gateway), policyset.gateways[gateway].spec.rate_limit
    )
    traced = traced_routes(policyset)
    routes = {route.name: route for route in attached}

    def _sampling(name: str) -> Sampling | None:
        return route_sampling(policyset, gateway, name, traced) if traced else None

    def host(name: str, domains: tuple[str, ...], members: list[str]) -> VirtualHost:
        only = routes[members[0]] if len(members) == 1 else None
        return VirtualHost(
            name,
            domains,
            tuple(rule for member in members for rule in rules[member]),
            None if only is None else only.spec.rate_limit,
            (
                None
                if only is None
                else global_limit(route_global_limit_key(only.name), only.spec.rate_limit)
            )
            or gateway_limit,
            _sampling(name),
            levels,
            adaptive_levels,
            True,
        )

    if gateway in policyset.gateway_api.gateways:
        groups = share_hostnames(
            [(route.name, _domains(route)) for route in attached],
            policyset.gateway_api.route_rank,
        )
        hosts = [host("+".join(names), tuple(domains), names) for names, domains in groups]
    else:
        hosts = [
            route_host(
                route,
                rules[route.name],
                _sampling(route.name),
                levels,
                adaptive_levels,
                gateway_limit,
                memo,
            )
            for route in attached
        ]
    return (
        RouteConfiguration(route_config_name(gateway), tuple(sorted(hosts, key=lambda h: h.name))),
        admission,
        adaptive,
    )
