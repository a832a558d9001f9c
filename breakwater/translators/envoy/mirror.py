"""Mirror → the route's `request_mirror_policies`: a copy of requests to another cluster.

Envoy sends the copy as fire-and-forget: the client gets the primary's
answer and never waits for, nor sees, the mirror's. The mirror's cluster
must be in the proxy's config although no backend names it, so the routes'
targets include it (`ir.upstreams.backends_of`).
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2

from breakwater.translators.envoy.percentages import fractional_percent
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.names import cluster_name
from breakwater.translators.traffic_model import Mirror

EXPLAIN: Meanings = {
    ("mirror", "service"): FieldMeaning(
        "route.request_mirror_policies[0].cluster",
        "the copy goes to the service's own cluster, never to its failover target; its host "
        "header gets Envoy's -shadow suffix (payments.example -> payments.example-shadow), and "
        "its answers, errors and delays never reach the client",
    ),
    ("mirror", "subset"): FieldMeaning("route.request_mirror_policies[0].cluster (the subset's)"),
    ("mirror", "percent"): FieldMeaning(
        "route.request_mirror_policies[0].runtime_fraction.default_value",
        "each request is drawn at random; only requests the route forwards are copied (not "
        "those a fault aborts or a rate limit refuses), and the mirror gets the first attempt "
        "only, never retries",
    ),
}
"""What `breakwater explain` says about the fields translated here (paths under a rule)."""


def mirror_policy(mirror: Mirror) -> route_components_pb2.RouteAction.RequestMirrorPolicy:
    """Mirrors skip failover on purpose: copies must never add load to a service taking over."""
    return route_components_pb2.RouteAction.RequestMirrorPolicy(
        cluster=cluster_name(mirror.service, mirror.subset),
        runtime_fraction=base_pb2.RuntimeFractionalPercent(
            default_value=fractional_percent(mirror.percent)
        ),
    )
