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

from collections.abc import Callable, Sequence

from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import wrappers_pb2

from breakwater.translators.admission import gateway_filter_names, route_filter_configs
from breakwater.translators.balancing import hash_policies
from breakwater.translators.clusters import ClusterPolicies, Target
from breakwater.translators.fallback import custom_response
from breakwater.translators.faults import http_fault
from breakwater.translators.gateway_api.ordering import METHOD_HEADER, merge_by_precedence
from breakwater.translators.headers import (
    apply_header_changes,
    apply_rewrite,
    direct_response,
    redirect_action,
)
from breakwater.translators.http_filters import (
    CUSTOM_RESPONSE,
    FAULT,
    LOCAL_RATE_LIMIT,
    switched_on,
)
from breakwater.translators.matchers import header_matcher, regex_matcher
from breakwater.translators.mirror import mirror_policy
from breakwater.translators.model import ResilienceSpec
from breakwater.translators.names import (
    route_config_name,
    route_name,
    route_rate_limit_stat_prefix,
    rule_rate_limit_stat_prefix,
)
from breakwater.translators.policyset import PolicySet, PreviewRoute
from breakwater.translators.ratelimit import local_rate_limit
from breakwater.translators.retries import apply_timeout, retry_policy
from breakwater.translators.route_model import HTTPRoute, RouteMatch, RouteRule
from breakwater.translators.telemetry import apply_route_tracing

ClusterNamer = Callable[[str, str | None], str]


def attached_routes(policyset: PolicySet, gateway: str) -> list[HTTPRoute]:
    """The HTTPRoutes that name `gateway`, by name."""
    return [
        policyset.routes[name]
        for name in sorted(policyset.routes)
        if gateway in policyset.routes[name].spec.gateways
    ]


def backends_of(routes: list[HTTPRoute]) -> list[Target]:
    """Every (service, subset) the routes send traffic to, zero-weight ones and mirrors included.

    A mirror is named by no backend, yet Envoy refuses a route whose mirror
    cluster it does not know, so the mirror's cluster goes to the proxy too.
    """
    found: dict[Target, None] = {}
    for route in routes:
        for rule in route.spec.rules:
            for backend in rule.backends:
                found[(backend.service, backend.subset)] = None
            if rule.mirror is not None:
                found[(rule.mirror.service, rule.mirror.subset)] = None
    return list(found)


def route_match(match: RouteMatch | None) -> route_components_pb2.RouteMatch:
    """A rule without matches, or a match without a path, matches every path."""
    out = route_components_pb2.RouteMatch()
    path = match.path if match is not None else None
    if path is not None and path.exact is not None:
        out.path = path.exact
    elif path is not None and path.prefix is not None:
        out.prefix = path.prefix
    elif path is not None and path.regex is not None:
        out.safe_regex.regex = path.regex
    elif path is not None and path.segment_prefix is not None:
        under = path.segment_prefix.rstrip("/")
        if under:
            out.path_separated_prefix = under
        else:
            out.prefix = "/"
    else:
        out.prefix = "/"
    if match is None:
        return out
    if match.method is not None:
        out.headers.append(
            route_components_pb2.HeaderMatcher(
                name=METHOD_HEADER, string_match=string_pb2.StringMatcher(exact=match.method)
            )
        )
    out.headers.extend(header_matcher(header) for header in match.headers)
    for param in match.query_params:
        out.query_parameters.append(
            route_components_pb2.QueryParameterMatcher(
                name=param.name,
                string_match=(
                    string_pb2.StringMatcher(exact=param.value)
                    if param.value is not None
                    else regex_matcher(param.regex or "")
                ),
            )
        )
    return out


def route_action(
    effective: ResilienceSpec, rule: RouteRule, cluster_for: ClusterNamer
) -> route_components_pb2.RouteAction:
    """Where a rule sends traffic, with which retries, timeouts and mirror (`effective` is the
    rule's merged policy)."""
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

    policy = retry_policy(effective.retry)
    if policy is not None:
        action.retry_policy.CopyFrom(policy)
    apply_timeout(action, effective.timeout)
    if rule.mirror is not None:
        action.request_mirror_policies.append(mirror_policy(rule.mirror))
    return action


def rule_template(
    policyset: PolicySet,
    route: str,
    rule_index: int,
    rule: RouteRule,
    cluster_for: ClusterNamer,
    admission: Sequence[str] = (),
) -> route_components_pb2.Route:
    """What every Envoy route of a rule shares: its action or redirect, header changes, filters.

    Name and match are left to each match, and so are the path rewrites and
    redirects that replace the prefix a match matched.
    """
    effective = policyset.effective_for_rule(route, rule_index).spec
    template = route_components_pb2.Route()
    if rule.direct_response is not None:
        template.direct_response.CopyFrom(direct_response(rule.direct_response))
    elif rule.redirect is None:
        template.route.CopyFrom(route_action(effective, rule, cluster_for))
        # Ring-hash and maglev clusters hash what the route computes: each backend's key,
        # after the sticky header (Envoy combines every hash policy of a route into one hash).
        for policy in hash_policies(
            policyset.effective_for_cluster(b.service, b.subset).spec.load_balancer
            for b in rule.backends
        ):
            if policy not in template.route.hash_policy:
                template.route.hash_policy.append(policy)
    apply_header_changes(template, rule.request_headers, rule.response_headers)
    filters = template.typed_per_filter_config
    if rule.rate_limit is not None:
        limit = local_rate_limit(rule.rate_limit, rule_rate_limit_stat_prefix(route, rule_index))
        filters[LOCAL_RATE_LIMIT].CopyFrom(switched_on(limit))
    if rule.fault is not None:
        filters[FAULT].CopyFrom(switched_on(http_fault(rule.fault)))
    if effective.fallback is not None and rule.answers_itself() is None:
        filters[CUSTOM_RESPONSE].CopyFrom(switched_on(custom_response(effective.fallback)))
    for name, config in route_filter_configs(policyset, route, rule_index, admission).items():
        filters[name].CopyFrom(config)
    return template


def _matched_prefix(match: RouteMatch | None) -> str:
    """The path prefix a match matches; a match without a path matches under `/`."""
    matched = match.path.matched_prefix() if match is not None and match.path else None
    return matched or "/"


def match_route(
    template: route_components_pb2.Route, rule: RouteRule, match: RouteMatch | None
) -> route_components_pb2.Route:
    """The rule's route for one of its matches (name left to the caller)."""
    out = route_components_pb2.Route()
    out.CopyFrom(template)
    out.match.CopyFrom(route_match(match))
    if rule.redirect is not None:
        out.redirect.CopyFrom(redirect_action(rule.redirect, _matched_prefix(match)))
    elif rule.rewrite is not None:
        apply_rewrite(out.route, rule.rewrite, _matched_prefix(match))
    return out


def rule_routes(
    policyset: PolicySet,
    route: HTTPRoute,
    cluster_for: ClusterNamer,
    admission: Sequence[str] = (),
) -> list[route_components_pb2.Route]:
    """The Envoy routes of one HTTPRoute, in rule order, one per match; `admission` names the
    gateway's admission control filters."""
    out: list[route_components_pb2.Route] = []
    for rule_index, rule in enumerate(route.spec.rules):
        template = rule_template(policyset, route.name, rule_index, rule, cluster_for, admission)
        matches: list[RouteMatch | None] = list(rule.matches) or [None]
        preview = policyset.previews.get((route.name, rule_index))
        for match_index, match in enumerate(matches):
            shaped = match_route(template, rule, match)
            shaped.name = route_name(route.name, rule_index, match_index)
            if preview is not None and shaped.HasField("route"):
                out.append(_preview_route(shaped, preview, cluster_for))
            out.append(shaped)
    return out


def _preview_route(
    shaped: route_components_pb2.Route, preview: PreviewRoute, cluster_for: ClusterNamer
) -> route_components_pb2.Route:
    """The rule's route plus the preview's headers, to the preview's backend alone, with
    everything else of the rule (retries, timeouts, filters); named `<route>/<rule>/<match>/preview`."""
    single = route_components_pb2.Route()
    single.CopyFrom(shaped)
    single.name = shaped.name + "/preview"
    single.match.headers.extend(header_matcher(header) for header in preview.headers)
    single.route.ClearField("weighted_clusters")
    single.route.ClearField("hash_policy")
    single.route.cluster = cluster_for(preview.service, preview.subset)
    return single


def virtual_hosts(
    policyset: PolicySet,
    routes: list[HTTPRoute],
    cluster_for: ClusterNamer,
    admission: Sequence[str] = (),
) -> list[route_components_pb2.VirtualHost]:
    """One virtual host per HTTPRoute (validation keeps their hostnames apart on a gateway).

    Envoy matches hosts without regard to case and refuses duplicates that
    differ only in case, so hostnames are emitted lowercased.
    """
    hosts = [virtual_host(policyset, route, cluster_for, admission) for route in routes]
    return sorted(hosts, key=lambda h: h.name)


def virtual_host(
    policyset: PolicySet,
    route: HTTPRoute,
    cluster_for: ClusterNamer,
    admission: Sequence[str] = (),
) -> route_components_pb2.VirtualHost:
    """A route's limit sits on its virtual host: one bucket for every rule without its own."""
    host = route_components_pb2.VirtualHost(
        name=route.name,
        domains=list(dict.fromkeys(h.lower() for h in route.spec.hostnames)),
        routes=rule_routes(policyset, route, cluster_for, admission),
    )
    if route.spec.rate_limit is not None:
        limit = local_rate_limit(route.spec.rate_limit, route_rate_limit_stat_prefix(route.name))
        host.typed_per_filter_config[LOCAL_RATE_LIMIT].CopyFrom(switched_on(limit))
    return host


def virtual_host_inputs(
    policyset: PolicySet,
    route: HTTPRoute,
    cluster_for: ClusterNamer,
    admission: Sequence[str] = (),
) -> list[object]:
    """Everything `virtual_host` reads besides the PolicySet's fixed parts, for a cache key.

    The route itself, the effective policy of each rule and of each backend
    (their identity: merges are memoized per set of layer objects, see
    `MergeMemo`), the cluster each backend is routed to (a failover target
    that appears or goes changes it), the rule's rollout preview and the
    gateway's admission filters. Two calls that return the same objects and
    values build byte-identical virtual hosts; keep this in step with
    `virtual_host` and what it calls.
    """
    inputs: list[object] = [route, tuple(admission)]
    for index, rule in enumerate(route.spec.rules):
        inputs.append(policyset.effective_for_rule(route.name, index))
        for backend in rule.backends:
            inputs.append(cluster_for(backend.service, backend.subset))
            inputs.append(policyset.effective_for_cluster(backend.service, backend.subset))
        preview = policyset.previews.get((route.name, index))
        if preview is not None:
            inputs += [preview, cluster_for(preview.service, preview.subset)]
    return inputs


def route_configuration(
    policyset: PolicySet, gateway: str, policies: ClusterPolicies | None = None
) -> route_pb2.RouteConfiguration:
    """A gateway without routes gets an empty configuration: Envoy answers 404."""
    cluster_for = (policies or ClusterPolicies(policyset)).routed_cluster_name
    config = route_pb2.RouteConfiguration(name=route_config_name(gateway))
    attached = attached_routes(policyset, gateway)
    admission = gateway_filter_names(policyset, [r.name for r in attached])
    hosts = virtual_hosts(policyset, attached, cluster_for, admission)
    if gateway in policyset.gateway_api.gateways:
        hosts = merge_by_precedence(hosts, policyset.gateway_api.route_rank)
    config.virtual_hosts.extend(hosts)
    apply_route_tracing(policyset, gateway, config)
    return config
