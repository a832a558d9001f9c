"""IR virtual hosts → Envoy virtual hosts: each rule, once per match, becomes a Route.

Routes keep the order their rules are written in (Envoy takes the first
route that matches), except on a virtual host that Gateway API routes
share, whose routes are sorted by the Gateway API's match precedence.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.route.v3 import route_components_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import wrappers_pb2

from breakwater.translators.envoy.adaptive import (
    route_filter_configs as adaptive_filter_configs,
)
from breakwater.translators.envoy.admission import route_filter_configs
from breakwater.translators.envoy.balancing import hash_policies
from breakwater.translators.envoy.fallback import custom_response
from breakwater.translators.envoy.faults import http_fault
from breakwater.translators.envoy.global_ratelimit import rate_limit_actions
from breakwater.translators.envoy.headers import (
    apply_header_changes,
    apply_rewrite,
    direct_response,
    redirect_action,
)
from breakwater.translators.envoy.http_filters import (
    CUSTOM_RESPONSE,
    FAULT,
    LOCAL_RATE_LIMIT,
    switched_on,
)
from breakwater.translators.envoy.matchers import header_matcher, regex_matcher
from breakwater.translators.envoy.mirror import mirror_policy
from breakwater.translators.envoy.ratelimit import local_rate_limit
from breakwater.translators.envoy.retries import apply_timeout, hedge_policy, retry_policy
from breakwater.translators.envoy.telemetry import route_tracing
from breakwater.translators.gateway_api.ordering import METHOD_HEADER, precedence
from breakwater.translators.ir.nodes import Preview, Rule, VirtualHost
from breakwater.translators.names import (
    route_name,
    route_rate_limit_stat_prefix,
    rule_rate_limit_stat_prefix,
)
from breakwater.translators.route_model import RouteMatch


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


def route_action(rule: Rule) -> route_components_pb2.RouteAction:
    """Where a rule sends traffic, with which retries, timeouts and mirror."""
    action = route_components_pb2.RouteAction()
    if len(rule.backends) == 1:
        action.cluster = rule.backends[0].cluster
    else:
        # A backend with weight 0 stays listed: Envoy 1.40 accepts it (only a
        # total of 0 is refused) and never picks it, and keeping it keeps its
        # cluster in use while a canary is paused at 0.
        for backend in rule.backends:
            action.weighted_clusters.clusters.append(
                route_components_pb2.WeightedCluster.ClusterWeight(
                    name=backend.cluster, weight=wrappers_pb2.UInt32Value(value=backend.weight)
                )
            )
    if rule.sticky is not None:
        # The header's hash, not a random number, picks the weighted cluster:
        # one user id always lands on the same backend, and users spread over
        # backends in proportion to the weights. Requests without the header
        # fall back to a random pick.
        action.hash_policy.append(
            route_components_pb2.RouteAction.HashPolicy(
                header=route_components_pb2.RouteAction.HashPolicy.Header(header_name=rule.sticky)
            )
        )
        if action.HasField("weighted_clusters"):
            action.weighted_clusters.use_hash_policy.value = True

    effective = rule.policy.spec
    policy = retry_policy(effective.retry)
    if policy is not None:
        action.retry_policy.CopyFrom(policy)
    hedge = hedge_policy(effective.retry)
    if hedge is not None:
        action.hedge_policy.CopyFrom(hedge)
    apply_timeout(action, effective.timeout)
    if rule.mirror is not None:
        action.request_mirror_policies.append(mirror_policy(rule.mirror))
    return action


def rule_template(
    rule: Rule, gateway_levels: Sequence[str] = (), adaptive_levels: Sequence[str] = ()
) -> route_components_pb2.Route:
    """What every Envoy route of a rule shares: its action or redirect, header changes, filters.

    Name and match are left to each match, and so are the path rewrites and
    redirects that replace the prefix a match matched.
    """
    template = route_components_pb2.Route()
    if rule.direct_response is not None:
        template.direct_response.CopyFrom(direct_response(rule.direct_response))
    elif rule.redirect is None:
        template.route.CopyFrom(route_action(rule))
        # Ring-hash and maglev clusters hash what the route computes: each backend's key,
        # after the sticky header (Envoy combines every hash policy of a route into one hash).
        for policy in hash_policies(rule.balancers):
            if policy not in template.route.hash_policy:
                template.route.hash_policy.append(policy)
    apply_header_changes(template, rule.request_headers, rule.response_headers)
    filters = template.typed_per_filter_config
    if rule.rate_limit is not None and rule.rate_limit.local:
        limit = local_rate_limit(
            rule.rate_limit, rule_rate_limit_stat_prefix(rule.route, rule.index)
        )
        filters[LOCAL_RATE_LIMIT].CopyFrom(switched_on(limit))
    if rule.global_limit is not None and template.HasField("route"):
        template.route.rate_limits.append(rate_limit_actions(rule.global_limit))
    if rule.fault is not None:
        filters[FAULT].CopyFrom(switched_on(http_fault(rule.fault)))
    answers_itself = rule.redirect is not None or rule.direct_response is not None
    if rule.policy.spec.fallback is not None and not answers_itself:
        filters[CUSTOM_RESPONSE].CopyFrom(switched_on(custom_response(rule.policy.spec.fallback)))
    for name, config in route_filter_configs(rule.admission, gateway_levels).items():
        filters[name].CopyFrom(config)
    for name, config in adaptive_filter_configs(rule.adaptive, adaptive_levels).items():
        filters[name].CopyFrom(config)
    return template


def _matched_prefix(match: RouteMatch | None) -> str:
    """The path prefix a match matches; a match without a path matches under `/`."""
    matched = match.path.matched_prefix() if match is not None and match.path else None
    return matched or "/"


def match_route(
    template: route_components_pb2.Route, rule: Rule, match: RouteMatch | None
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
    rule: Rule, gateway_levels: Sequence[str] = (), adaptive_levels: Sequence[str] = ()
) -> list[route_components_pb2.Route]:
    """The Envoy routes of one rule, one per match, each after its rollout preview route;
    `gateway_levels` and `adaptive_levels` are the gateway's admission control and adaptive
    concurrency levels."""
    out: list[route_components_pb2.Route] = []
    template = rule_template(rule, gateway_levels, adaptive_levels)
    matches: list[RouteMatch | None] = list(rule.matches) or [None]
    for match_index, match in enumerate(matches):
        shaped = match_route(template, rule, match)
        shaped.name = route_name(rule.route, rule.index, match_index)
        if rule.preview is not None and shaped.HasField("route"):
            out.append(_preview_route(shaped, rule.preview))
        out.append(shaped)
    return out


def _preview_route(
    shaped: route_components_pb2.Route, preview: Preview
) -> route_components_pb2.Route:
    """The rule's route plus the preview's headers, to the preview's backend alone, with
    everything else of the rule (retries, timeouts, filters); named `<route>/<rule>/<match>/preview`."""
    single = route_components_pb2.Route()
    single.CopyFrom(shaped)
    single.name = shaped.name + "/preview"
    single.match.headers.extend(header_matcher(header) for header in preview.headers)
    single.route.ClearField("weighted_clusters")
    single.route.ClearField("hash_policy")
    single.route.cluster = preview.cluster
    return single


def virtual_host(host: VirtualHost) -> route_components_pb2.VirtualHost:
    """A route's limit sits on its virtual host: one bucket for every rule without its own."""
    routes = [
        route
        for rule in host.rules
        for route in rule_routes(rule, host.gateway_levels, host.adaptive_levels)
    ]
    if host.by_precedence:
        routes.sort(key=precedence)
    out = route_components_pb2.VirtualHost(name=host.name, domains=host.domains, routes=routes)
    if host.global_limit is not None:
        out.rate_limits.append(rate_limit_actions(host.global_limit))
    if host.rate_limit is not None and host.rate_limit.local:
        limit = local_rate_limit(host.rate_limit, route_rate_limit_stat_prefix(host.name))
        out.typed_per_filter_config[LOCAL_RATE_LIMIT].CopyFrom(switched_on(limit))
    if host.tracing is not None:
        tracing = route_tracing(host.tracing)
        for route in out.routes:
            route.tracing.CopyFrom(tracing)
    return out
