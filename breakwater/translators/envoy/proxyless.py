"""IR mesh pieces → the resources proxyless gRPC clients are sent, and only what they implement.

gRPC's xDS client is not Envoy: it NACKs a listener without an
`api_listener`, an HTTP filter it does not know (unless marked optional) or
a router that is not last, a cluster whose `lb_policy` it does not
implement, and it ignores localities without a `load_balancing_weight`.
So these resources are written field by field from what the gRFCs list
(`translators.proxyless`), never by trimming an Envoy resource:

- Listener (A27, A39): `api_listener` holding an HttpConnectionManager with
  RDS over ADS; the HTTP filters are the router, after the fault filter when
  a rule injects faults (marked optional, so a client without A33 ignores it).
- RouteConfiguration (A28, A31, A33, A42, A44): one virtual host for every
  authority; matches on path and headers; weighted clusters; header hash
  policies; `retry_policy` on gRPC status codes with backoff;
  `max_stream_duration` as the timeout; fault config per route, unwrapped.
- Cluster (A27, A32, A42, A50): EDS over ADS, ROUND_ROBIN or RING_HASH,
  `max_requests`, outlier detection by failure percentage, and load reports
  to the control plane (`lrs_server: {self: {}}`, A27).
- ClusterLoadAssignment: as Envoy gets it (`endpoints`), weighted localities
  and DRAINING hosts (which gRPC does not pick), each locality written even
  when it names no zone: gRPC refuses a locality entry without one.
"""

from __future__ import annotations

import re

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import api_listener_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import wrappers_pb2

from breakwater.translators.envoy.clusters import ads_config_source, pack_any
from breakwater.translators.envoy.endpoints import load_assignment
from breakwater.translators.envoy.faults import http_fault
from breakwater.translators.envoy.http_filters import FAULT, ROUTER
from breakwater.translators.envoy.matchers import header_matcher
from breakwater.translators.envoy.routes import route_match
from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.gateway_api.ordering import METHOD_HEADER
from breakwater.translators.ir.nodes import Cluster, Endpoints, MeshListener, MeshRoutes, Rule
from breakwater.translators.model import CircuitBreaker, ResilienceSpec
from breakwater.translators.names import mesh_listener_name, route_name
from breakwater.translators.proxyless import GRPC_RETRY_ON

EXPLAIN: Meanings = {
    ("circuit_breaker", "failure_rate_threshold"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_threshold",
        "each client ejects, for itself, the hosts whose share of failed calls (any status but "
        "OK) is above it in one interval (gRFC A50)",
    ),
    ("circuit_breaker", "minimum_requests"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_request_volume"
    ),
    ("circuit_breaker", "minimum_hosts"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_minimum_hosts"
    ),
    ("circuit_breaker", "interval"): FieldMeaning("cluster.outlier_detection.interval"),
    ("circuit_breaker", "open_duration"): FieldMeaning(
        "cluster.outlier_detection.base_ejection_time"
    ),
    ("circuit_breaker", "max_open_duration"): FieldMeaning(
        "cluster.outlier_detection.max_ejection_time"
    ),
    ("circuit_breaker", "max_ejection_percent"): FieldMeaning(
        "cluster.outlier_detection.max_ejection_percent",
        "gRPC has no always_eject_one_host: below one host, nothing is ejected",
    ),
    ("bulkhead", "max_concurrent_requests"): FieldMeaning(
        "cluster.circuit_breakers.thresholds.max_requests",
        "per client, calls over it fail at once with UNAVAILABLE (gRFC A32)",
    ),
    ("retry", "attempts"): FieldMeaning(
        "route.retry_policy.num_retries = attempts - 1",
        "gRPC makes at most 5 attempts whatever is asked (gRFC A6, A44)",
    ),
    ("retry", "retry_on"): FieldMeaning(
        "route.retry_policy.retry_on (gRPC status codes only)",
        "a gRPC client retries on cancelled, deadline-exceeded, internal, resource-exhausted "
        "and unavailable (gRFC A44)",
    ),
    ("retry", "backoff", "base_interval"): FieldMeaning(
        "route.retry_policy.retry_back_off.base_interval", "doubles each retry (gRFC A44)"
    ),
    ("retry", "backoff", "max_interval"): FieldMeaning(
        "route.retry_policy.retry_back_off.max_interval"
    ),
    ("timeout", "request"): FieldMeaning(
        "route.max_stream_duration.max_stream_duration",
        "a gRPC client takes it as the call's deadline when the call's own is later (gRFC A31)",
    ),
    ("load_balancer", "policy"): FieldMeaning(
        "cluster.lb_policy (ROUND_ROBIN or RING_HASH)", "gRFC A27, A42"
    ),
    ("load_balancer", "hash_on", "header"): FieldMeaning(
        "route.hash_policy.header", "picks the host on a ring-hash cluster (gRFC A42)"
    ),
}
"""What `breakwater explain` says about the fields as proxyless gRPC clients get them; what
they do not get is said by `translators.proxyless.policy_gaps`."""

# -- listener ------------------------------------------------------------------


def grpc_listener(node: MeshListener) -> listener_pb2.Listener:
    filters: list[hcm_pb2.HttpFilter] = []
    if node.fault:
        filters.append(
            hcm_pb2.HttpFilter(
                name=FAULT, typed_config=pack_any(fault_pb2.HTTPFault()), is_optional=True
            )
        )
    filters.append(hcm_pb2.HttpFilter(name=ROUTER, typed_config=pack_any(router_pb2.Router())))
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=node.service,
        rds=hcm_pb2.Rds(config_source=ads_config_source(), route_config_name=node.route_config),
        http_filters=filters,
    )
    return listener_pb2.Listener(
        name=mesh_listener_name(node.service),
        api_listener=api_listener_pb2.ApiListener(api_listener=pack_any(manager)),
    )


# -- routes --------------------------------------------------------------------


def _retry_policy(spec: ResilienceSpec) -> route_components_pb2.RetryPolicy | None:
    retry = spec.retry
    if retry is None:
        return None
    codes = [c for c in dict.fromkeys(retry.retry_on) if c in GRPC_RETRY_ON]
    if not codes or retry.attempts < 2:
        return None  # gRPC refuses `num_retries: 0` (the whole RouteConfiguration with it)
    policy = route_components_pb2.RetryPolicy(
        retry_on=",".join(codes), num_retries=wrappers_pb2.UInt32Value(value=retry.attempts - 1)
    )
    if retry.backoff is not None:
        set_duration(policy.retry_back_off.base_interval, retry.backoff.base_interval)
        if retry.backoff.max_interval is not None:
            set_duration(policy.retry_back_off.max_interval, retry.backoff.max_interval)
    return policy


def _shape_action(action: route_components_pb2.RouteAction, spec: ResilienceSpec) -> None:
    policy = _retry_policy(spec)
    if policy is not None:
        action.retry_policy.CopyFrom(policy)
    timeout = spec.timeout
    if timeout is not None and timeout.request is not None and timeout.request.total_seconds() > 0:
        set_duration(action.max_stream_duration.max_stream_duration, timeout.request)


def _action(rule: Rule) -> route_components_pb2.RouteAction:
    action = route_components_pb2.RouteAction()
    if len(rule.backends) == 1:
        action.cluster = rule.backends[0].cluster
    else:
        for backend in rule.backends:
            action.weighted_clusters.clusters.append(
                route_components_pb2.WeightedCluster.ClusterWeight(
                    name=backend.cluster, weight=wrappers_pb2.UInt32Value(value=backend.weight)
                )
            )
        # Deprecated in Envoy, but gRPC clients released before it was dropped take an unset
        # total as 100 and refuse weights that add up to anything else (3:1, say).
        action.weighted_clusters.total_weight.value = sum(b.weight for b in rule.backends)
    headers = [rule.sticky] if rule.sticky is not None else []
    headers += [b.hash_on.header for b in rule.balancers if b and b.hash_on and b.hash_on.header]
    for header in dict.fromkeys(headers):
        action.hash_policy.append(
            route_components_pb2.RouteAction.HashPolicy(
                header=route_components_pb2.RouteAction.HashPolicy.Header(header_name=header)
            )
        )
    _shape_action(action, rule.policy.spec)
    return action


def _grpc_match(match: route_components_pb2.RouteMatch) -> route_components_pb2.RouteMatch:
    """Envoy's match as gRPC reads it (A28): a path prefix on `/` boundaries, which gRPC does
    not know, as the regex it means; no `:method` (every call is a POST, and a rule matching
    another method is refused); no query parameters (gRPC has none, and refused likewise)."""
    if match.HasField("path_separated_prefix"):
        under = match.path_separated_prefix
        match.safe_regex.regex = f"{re.escape(under)}(/.*)?"
    kept = [h for h in match.headers if h.name != METHOD_HEADER]
    del match.headers[:]
    match.headers.extend(kept)
    match.ClearField("query_parameters")
    return match


def _rule_routes(rule: Rule) -> list[route_components_pb2.Route]:
    template = route_components_pb2.Route(route=_action(rule))
    if rule.fault is not None:
        template.typed_per_filter_config[FAULT].CopyFrom(pack_any(http_fault(rule.fault)))
    out: list[route_components_pb2.Route] = []
    for index, match in enumerate(list(rule.matches) or [None]):
        route = route_components_pb2.Route()
        route.CopyFrom(template)
        route.name = route_name(rule.route, rule.index, index)
        route.match.CopyFrom(_grpc_match(route_match(match)))
        if rule.preview is not None:
            preview = route_components_pb2.Route()
            preview.CopyFrom(route)
            preview.name += "/preview"
            preview.match.headers.extend(header_matcher(h) for h in rule.preview.headers)
            preview.route.ClearField("weighted_clusters")
            preview.route.cluster = rule.preview.cluster
            out.append(preview)
        out.append(route)
    return out


def grpc_route_configuration(node: MeshRoutes) -> route_pb2.RouteConfiguration:
    """A rule that sends nothing to backends (a Gateway API rule none of whose backendRefs
    resolved, which Envoy answers with 500) is left out: gRPC clients have no direct
    response, and its calls go on to the next rule; the route's status says why."""
    routes = [route for rule in node.rules if rule.backends for route in _rule_routes(rule)]
    default = route_components_pb2.Route(
        name=f"{node.service}/service",
        match=route_components_pb2.RouteMatch(prefix=""),
        route=route_components_pb2.RouteAction(cluster=node.default),
    )
    _shape_action(default.route, node.policy.spec)
    routes.append(default)
    host = route_components_pb2.VirtualHost(name=node.service, domains=["*"], routes=routes)
    return route_pb2.RouteConfiguration(name=node.name, virtual_hosts=[host])


# -- clusters ------------------------------------------------------------------


def _outlier_detection(
    breaker: CircuitBreaker | None,
) -> outlier_detection_pb2.OutlierDetection | None:
    """Failure-percentage ejection (A50); success-rate ejection, on by default, written off."""
    if breaker is None or breaker.failure_rate_threshold is None:
        return None
    od = outlier_detection_pb2.OutlierDetection()
    od.failure_percentage_threshold.value = round(breaker.failure_rate_threshold)
    od.enforcing_failure_percentage.value = 100
    od.failure_percentage_minimum_hosts.value = breaker.minimum_hosts
    if breaker.minimum_requests is not None:
        od.failure_percentage_request_volume.value = breaker.minimum_requests
    od.enforcing_success_rate.value = 0
    if breaker.interval is not None:
        set_duration(od.interval, breaker.interval)
    if breaker.open_duration is not None:
        set_duration(od.base_ejection_time, breaker.open_duration)
    if breaker.max_open_duration is not None:
        set_duration(od.max_ejection_time, breaker.max_open_duration)
    od.max_ejection_percent.value = round(breaker.max_ejection_percent)
    return od


def grpc_cluster(node: Cluster) -> cluster_pb2.Cluster:
    policy = node.policy.spec
    cluster = cluster_pb2.Cluster(name=node.name, type=cluster_pb2.Cluster.DiscoveryType.EDS)
    cluster.eds_cluster_config.eds_config.CopyFrom(ads_config_source())
    cluster.eds_cluster_config.service_name = node.name
    # Load reports (LRS) to the control plane the client already talks to: the fleet's numbers
    # for this cluster then count the proxyless clients' calls too (what a Rollout judges).
    cluster.lrs_server.self.SetInParent()
    balancer = policy.load_balancer
    if balancer is not None and balancer.policy == "ring-hash":
        # The ring's size is left to gRPC's defaults (1 024 to 8 388 608 entries, A42).
        cluster.lb_policy = cluster_pb2.Cluster.LbPolicy.RING_HASH
    else:
        cluster.lb_policy = cluster_pb2.Cluster.LbPolicy.ROUND_ROBIN
    od = _outlier_detection(policy.circuit_breaker)
    if od is not None:
        cluster.outlier_detection.CopyFrom(od)
    bulkhead = policy.bulkhead
    if bulkhead is not None and bulkhead.max_concurrent_requests is not None:
        thresholds = circuit_breaker_pb2.CircuitBreakers.Thresholds(
            priority=base_pb2.RoutingPriority.DEFAULT
        )
        thresholds.max_requests.value = bulkhead.max_concurrent_requests
        cluster.circuit_breakers.thresholds.append(thresholds)
    return cluster


def grpc_load_assignment(node: Endpoints) -> endpoint_pb2.ClusterLoadAssignment:
    assignment = load_assignment(node)
    for locality in assignment.endpoints:
        locality.locality.SetInParent()
    return assignment


__all__ = [
    "EXPLAIN",
    "grpc_cluster",
    "grpc_listener",
    "grpc_load_assignment",
    "grpc_route_configuration",
]
