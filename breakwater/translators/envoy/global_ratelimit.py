"""`rateLimit.global` → Envoy's rate limit filter, route actions, and the rate-limit service's config.

A local limit is a bucket in each proxy: ten proxies let ten times the limit
through. A global limit is counted by one service for every proxy: Envoy's
`envoy.filters.http.ratelimit` asks Envoy's reference rate-limit service
(`github.com/envoyproxy/ratelimit`, on Redis) about each request, with the
descriptor its route's actions build, and answers 429 when the service says
over limit. Three places hold it:

- the gateway's connection manager: two rate limit filters, one per failure
  mode (`failureMode: open` lets a request through when the service cannot
  answer, `closed` answers 503), each applying only the actions of its
  `stage`; they are in the chain whenever the gateway names a
  `rateLimitService`, and do nothing on routes without actions;
- the routes: a rule's own limit is its routes' `rate_limits`; a route's (or
  else the gateway's) is its virtual host's, which Envoy uses for the routes
  that have none of their own, so the most specific limit wins as with local
  limits;
- the rate-limit service's own configuration (`service_config`), one domain
  with one descriptor per limit: `breakwater` serves it to operators with
  `breakwater ratelimit-config`, who deploy it beside the service.

Each limit is told apart by a generic key (`breakwater_limit` = who set
it), then by the `by` key: a request header's value or the client address.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from envoy.config.core.v3 import config_source_pb2, grpc_service_pb2
from envoy.config.ratelimit.v3 import rls_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.http.ratelimit.v3 import rate_limit_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.v3 import http_status_pb2

from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.ir.nodes import GlobalLimit
from breakwater.translators.names import (
    gateway_global_limit_key,
    route_global_limit_key,
    rule_global_limit_key,
)
from breakwater.translators.policyset import PolicySet
from breakwater.translators.traffic_model import GLOBAL_UNITS, GlobalRateLimit, RateLimit

RATE_LIMIT = "envoy.filters.http.ratelimit"
DOMAIN = "breakwater"
"""The rate-limit service's domain for every limit Breakwater writes."""
LIMIT_KEY = "breakwater_limit"
"""The descriptor entry that says which policy's limit a request counts against."""
HEADER_KEY = "header"
REMOTE_ADDRESS_KEY = "remote_address"
"""The key Envoy's `remote_address` action writes."""
SERVICE_TIMEOUT = timedelta(milliseconds=200)
"""How long a request waits for the service's answer before its failure mode applies (Envoy's
default of 20 ms is shorter than a busy Redis can promise)."""
STAGES = {"open": 0, "closed": 1}
"""Failure mode → the stage of its filter and of the actions it applies."""

EXPLAIN: Meanings = {
    ("rate_limit", "global_"): FieldMeaning(
        f"the gateway's {RATE_LIMIT} filters (domain {DOMAIN}), and rate_limits on the rule's "
        "routes, or else on the route's virtual host (the route's or the gateway's limit)",
        "counted by the rate-limit service for every proxy together, in fixed windows of one "
        "`per` (not a sliding or token bucket): up to twice `requests` can pass around a window's "
        "edge. Each request costs a call to the service (timeout 200ms). Over the limit Envoy "
        "answers 429 with x-envoy-ratelimited and x-ratelimit-* headers; counted in "
        "cluster.CLUSTER.ratelimit.{ok,over_limit,error,failure_mode_allowed}",
    ),
    ("rate_limit", "global_", "requests"): FieldMeaning(
        "rate-limit service config: descriptors[].rate_limit.requests_per_unit"
    ),
    ("rate_limit", "global_", "per"): FieldMeaning(
        "rate-limit service config: descriptors[].rate_limit.unit (second, minute, hour, day)",
        "a calendar window of the service's clock, shared by every proxy",
    ),
    ("rate_limit", "global_", "by", "header"): FieldMeaning(
        "rate_limits[].actions: request_headers (descriptor_key: header)",
        "one counter per value of the header; a request without the header builds no "
        "descriptor and is not limited at all",
    ),
    ("rate_limit", "global_", "by", "client_address"): FieldMeaning(
        "rate_limits[].actions: remote_address",
        "the address Envoy trusts as the client's: behind another proxy or a load balancer it "
        "is that proxy's, so every client shares one counter",
    ),
    ("rate_limit", "global_", "failure_mode"): FieldMeaning(
        f"{RATE_LIMIT}.open (stage 0, failure_mode_deny: false) or .closed (stage 1, "
        "failure_mode_deny: true, status_on_error: 503)",
        "applies when the service is down, slow (over 200ms) or answers an error: `open` lets "
        "the request through (ratelimit.failure_mode_allowed), `closed` answers 503",
    ),
}
"""What `breakwater explain` says about the fields translated here (paths under a rule)."""


def filter_name(failure_mode: str) -> str:
    return f"{RATE_LIMIT}.{failure_mode}"


def rate_limit_filters(service_cluster: str) -> list[hcm_pb2.HttpFilter]:
    """The gateway's two filters, one per failure mode, both asking `service_cluster`."""
    filters = []
    for mode, stage in STAGES.items():
        config = rate_limit_pb2.RateLimit(
            domain=DOMAIN,
            stage=stage,
            failure_mode_deny=mode == "closed",
            enable_x_ratelimit_headers=rate_limit_pb2.RateLimit.DRAFT_VERSION_03,
            rate_limit_service=rls_pb2.RateLimitServiceConfig(
                grpc_service=grpc_service_pb2.GrpcService(
                    envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=service_cluster)
                ),
                transport_api_version=config_source_pb2.V3,
            ),
        )
        set_duration(config.timeout, SERVICE_TIMEOUT)
        if mode == "closed":
            config.status_on_error.code = http_status_pb2.ServiceUnavailable
        filters.append(hcm_pb2.HttpFilter(name=filter_name(mode), typed_config=pack_any(config)))
    return filters


def rate_limit_actions(limit: GlobalLimit) -> route_components_pb2.RateLimit:
    """The descriptor a request builds for one limit: who set it, then its `by` key."""
    actions = [
        route_components_pb2.RateLimit.Action(
            generic_key=route_components_pb2.RateLimit.Action.GenericKey(
                descriptor_key=LIMIT_KEY, descriptor_value=limit.key
            )
        )
    ]
    by = limit.limit.by
    if by is not None and by.header is not None:
        actions.append(
            route_components_pb2.RateLimit.Action(
                request_headers=route_components_pb2.RateLimit.Action.RequestHeaders(
                    header_name=by.header, descriptor_key=HEADER_KEY
                )
            )
        )
    elif by is not None and by.client_address:
        actions.append(
            route_components_pb2.RateLimit.Action(
                remote_address=route_components_pb2.RateLimit.Action.RemoteAddress()
            )
        )
    policy = route_components_pb2.RateLimit(actions=actions)
    policy.stage.value = STAGES[limit.limit.failure_mode]
    return policy


# -- the rate-limit service's configuration ---------------------------------------


def _global(limit: RateLimit | None) -> GlobalRateLimit | None:
    return None if limit is None else limit.global_


def global_limits(policyset: PolicySet) -> Iterator[tuple[str, GlobalRateLimit]]:
    """Every global limit of the policy set with its key, gateways first, in name order."""
    for name in sorted(policyset.gateways):
        found = _global(policyset.gateways[name].spec.rate_limit)
        if found is not None:
            yield gateway_global_limit_key(name), found
    for name in sorted(policyset.routes):
        route = policyset.routes[name]
        found = _global(route.spec.rate_limit)
        if found is not None:
            yield route_global_limit_key(name), found
        for index, rule in enumerate(route.spec.rules):
            found = _global(rule.rate_limit)
            if found is not None:
                yield rule_global_limit_key(name, index), found


def _descriptor(key: str, limit: GlobalRateLimit) -> dict[str, Any]:
    rate = {"unit": GLOBAL_UNITS[limit.per], "requests_per_unit": limit.requests}
    outer: dict[str, Any] = {"key": LIMIT_KEY, "value": key}
    by = limit.by
    if by is None:
        outer["rate_limit"] = rate
    else:
        inner = HEADER_KEY if by.header is not None else REMOTE_ADDRESS_KEY
        outer["descriptors"] = [{"key": inner, "rate_limit": rate}]
    return outer


def service_config(policyset: PolicySet) -> dict[str, Any]:
    """The YAML configuration of Envoy's rate-limit service for every global limit: one domain,
    one descriptor per limit (a key alone under it counts each of its values apart)."""
    return {
        "domain": DOMAIN,
        "descriptors": [_descriptor(key, limit) for key, limit in global_limits(policyset)],
    }
