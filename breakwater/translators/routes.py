"""HTTPRoutes → one RouteConfiguration per Gateway.

Each HTTPRoute attached to a gateway becomes a VirtualHost whose domains are
its hostnames; each rule, once per match, becomes a Route, in the order the
rules are written (Envoy takes the first route that matches).

Envoy refuses a RouteConfiguration in which two virtual hosts claim the same
domain, and HTTPRoutes default to `*`, so routes that share hostnames are
merged: every hostname goes to one virtual host holding the rules of all the
routes that list it, those routes taken in name order.
"""

from __future__ import annotations

from collections.abc import Callable

from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import wrappers_pb2

from breakwater.translators.clusters import ClusterPolicies, Target
from breakwater.translators.model import HTTPRoute, RouteMatch, RouteRule
from breakwater.translators.names import route_config_name, route_name
from breakwater.translators.policyset import PolicySet, PreviewRoute
from breakwater.translators.retries import apply_timeout, retry_policy

ClusterNamer = Callable[[str, str | None], str]


def attached_routes(policyset: PolicySet, gateway: str) -> list[HTTPRoute]:
    """The HTTPRoutes that name `gateway`, by name."""
    return [
        policyset.routes[name]
        for name in sorted(policyset.routes)
        if gateway in policyset.routes[name].spec.gateways
    ]


def backends_of(routes: list[HTTPRoute]) -> list[Target]:
    """Every (service, subset) the routes send traffic to, zero-weight ones included."""
    found: dict[Target, None] = {}
    for route in routes:
        for rule in route.spec.rules:
            for backend in rule.backends:
                found[(backend.service, backend.subset)] = None
    return list(found)


def route_match(match: RouteMatch | None) -> route_components_pb2.RouteMatch:
    """A rule without matches, or a match without a path, matches every path."""
    out = route_components_pb2.RouteMatch()
    path = match.path if match is not None else None
    if path is not None and path.exact is not None:
        out.path = path.exact
    elif path is not None and path.prefix is not None:
        out.prefix = path.prefix
    else:
        out.prefix = "/"
    if match is None:
        return out
    for header in match.headers:
        matcher = route_components_pb2.HeaderMatcher(name=header.name)
        if header.value is not None:
            matcher.string_match.CopyFrom(string_pb2.StringMatcher(exact=header.value))
        elif header.present is not None:
            # `present: false` matches requests *without* the header.
            matcher.present_match = header.present
        out.headers.append(matcher)
    for param in match.query_params:
        out.query_parameters.append(
            route_components_pb2.QueryParameterMatcher(
                name=param.name, string_match=string_pb2.StringMatcher(exact=param.value)
            )
        )
    return out


def route_action(
    policyset: PolicySet, route: str, rule_index: int, rule: RouteRule, cluster_for: ClusterNamer
) -> route_components_pb2.RouteAction:
    """Where a rule sends traffic, and with which retries and timeouts."""
    action = route_components_pb2.RouteAction()
    if len(rule.backends) == 1:
        only = rule.backends[0]
        action.cluster = cluster_for(only.service, only.subset)
    else:
        # A backend with weight 0 stays listed: Envoy 1.40 accepts it (only a
        # total of 0 is refused) and never picks it, and keeping it keeps its
        # cluster in use while a canary is paused at 0.
        for backend in rule.backends:
            action.weighted_clusters.clusters.append(
                route_components_pb2.WeightedCluster.ClusterWeight(
                    name=cluster_for(backend.service, backend.subset),
                    weight=wrappers_pb2.UInt32Value(value=backend.weight),
                )
            )
    if rule.sticky is not None:
        # The header's hash, not a random number, picks the weighted cluster:
        # one user id always lands on the same backend, and users spread over
        # backends in proportion to the weights. Requests without the header
        # fall back to a random pick.
        action.hash_policy.append(
            route_components_pb2.RouteAction.HashPolicy(
                header=route_components_pb2.RouteAction.HashPolicy.Header(
                    header_name=rule.sticky.header
                )
            )
        )
        if action.HasField("weighted_clusters"):
            action.weighted_clusters.use_hash_policy.value = True

    effective = policyset.effective_for_rule(route, rule_index).spec
    policy = retry_policy(effective.retry)
    if policy is not None:
        action.retry_policy.CopyFrom(policy)
    apply_timeout(action, effective.timeout)
    return action


def rule_routes(
    policyset: PolicySet, route: HTTPRoute, cluster_for: ClusterNamer
) -> list[route_components_pb2.Route]:
    """The Envoy routes of one HTTPRoute, in rule order, one per match."""
    out: list[route_components_pb2.Route] = []
    for rule_index, rule in enumerate(route.spec.rules):
        action = route_action(policyset, route.name, rule_index, rule, cluster_for)
        matches: list[RouteMatch | None] = list(rule.matches) or [None]
        preview = policyset.previews.get((route.name, rule_index))
        for match_index, match in enumerate(matches):
            if preview is not None:
                out.append(
                    _preview_route(
                        route.name, rule_index, match_index, match, action, preview, cluster_for
                    )
                )
            out.append(
                route_components_pb2.Route(
                    name=route_name(route.name, rule_index, match_index),
                    match=route_match(match),
                    route=action,
                )
            )
    return out


def _preview_route(
    route: str,
    rule_index: int,
    match_index: int,
    match: RouteMatch | None,
    action: route_components_pb2.RouteAction,
    preview: PreviewRoute,
    cluster_for: ClusterNamer,
) -> route_components_pb2.Route:
    """The rule's match plus the preview's headers, to the preview's backend alone, with the
    rule's retries and timeouts; named `<route>/<rule>/<match>/preview`."""
    matched = route_match(match)
    for header in preview.headers:
        matched.headers.append(
            route_components_pb2.HeaderMatcher(
                name=header.name, string_match=string_pb2.StringMatcher(exact=header.value)
            )
            if header.value is not None
            else route_components_pb2.HeaderMatcher(
                name=header.name, present_match=bool(header.present)
            )
        )
    single = route_components_pb2.RouteAction()
    single.CopyFrom(action)
    single.ClearField("weighted_clusters")
    single.ClearField("hash_policy")
    single.cluster = cluster_for(preview.service, preview.subset)
    return route_components_pb2.Route(
        name=route_name(route, rule_index, match_index) + "/preview", match=matched, route=single
    )


def virtual_hosts(
    policyset: PolicySet, routes: list[HTTPRoute], cluster_for: ClusterNamer
) -> list[route_components_pb2.VirtualHost]:
    """One virtual host per HTTPRoute (validation keeps their hostnames apart on a gateway).

    Envoy matches hosts without regard to case and refuses duplicates that
    differ only in case, so hostnames are emitted lowercased.
    """
    hosts = [
        route_components_pb2.VirtualHost(
            name=route.name,
            domains=list(dict.fromkeys(h.lower() for h in route.spec.hostnames)),
            routes=rule_routes(policyset, route, cluster_for),
        )
        for route in routes
    ]
    return sorted(hosts, key=lambda h: h.name)


def route_configuration(
    policyset: PolicySet, gateway: str, policies: ClusterPolicies | None = None
) -> route_pb2.RouteConfiguration:
    """A gateway without routes gets an empty configuration: Envoy answers 404."""
    cluster_for = (policies or ClusterPolicies(policyset)).routed_cluster_name
    config = route_pb2.RouteConfiguration(name=route_config_name(gateway))
    config.virtual_hosts.extend(
        virtual_hosts(policyset, attached_routes(policyset, gateway), cluster_for)
    )
    return config
