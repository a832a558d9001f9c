"""The HTTP filters of every gateway's connection manager, and how a route switches one on.

Every filter a route may need (rate limit, fault injection, fallback
responses) is in every gateway's chain from the start, and a route that
needs one gives it its own config (`typed_per_filter_config`, wrapped in a
FilterConfig that also switches it on). So adding a fault to a rule changes
only the RouteConfiguration: the listener, and the connections it holds,
stay as they are. Fault injection and the custom response filter are off
by default and run only on the routes that ask for them; the rate limit is
on when the gateway itself has a limit.

The order is the order requests meet them: the local rate limit first,
then the global one (a call to the rate-limit service, spared for requests
the local bucket refused), so a refused request costs nothing more and a drill only works on admitted
traffic; then faults; then the custom response filter, which acts on the
way back; then admission control (one filter per service-wide breaker, see
`admission`), next to the router so that it counts the upstream's own
answers; the router last.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.http.custom_response.v3 import custom_response_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2
from google.protobuf.message import Message

from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.envoy.ratelimit import local_rate_limit
from breakwater.translators.names import gateway_rate_limit_stat_prefix
from breakwater.translators.traffic_model import RateLimit

LOCAL_RATE_LIMIT = "envoy.filters.http.local_ratelimit"
FAULT = "envoy.filters.http.fault"
CUSTOM_RESPONSE = "envoy.filters.http.custom_response"
ROUTER = "envoy.filters.http.router"


def http_filters(
    gateway: str,
    rate_limit: RateLimit | None,
    before_router: Sequence[hcm_pb2.HttpFilter] = (),
    global_limiters: Sequence[hcm_pb2.HttpFilter] = (),
) -> list[hcm_pb2.HttpFilter]:
    """The chain of one gateway; `rate_limit` is the gateway's own limit, if it has one,
    `before_router` the filters that must see the upstream's own answers (admission control,
    adaptive concurrency), and `global_limiters` the filters that ask the rate-limit service."""
    if rate_limit is not None and rate_limit.local:
        limiter = hcm_pb2.HttpFilter(
            name=LOCAL_RATE_LIMIT,
            typed_config=pack_any(
                local_rate_limit(rate_limit, gateway_rate_limit_stat_prefix(gateway))
            ),
        )
    else:
        limiter = _switched_off(
            LOCAL_RATE_LIMIT,
            local_rate_limit_pb2.LocalRateLimit(
                stat_prefix=gateway_rate_limit_stat_prefix(gateway)
            ),
        )
    return [
        limiter,
        *global_limiters,
        _switched_off(FAULT, fault_pb2.HTTPFault()),
        _switched_off(CUSTOM_RESPONSE, custom_response_pb2.CustomResponse()),
        *before_router,
        hcm_pb2.HttpFilter(name=ROUTER, typed_config=pack_any(router_pb2.Router())),
    ]


def _switched_off(name: str, config: Message) -> hcm_pb2.HttpFilter:
    return hcm_pb2.HttpFilter(name=name, typed_config=pack_any(config), disabled=True)


def switched_on(config: Message) -> any_pb2.Any:
    """A route's (or virtual host's) config for one filter, which also turns the filter on."""
    return pack_any(route_components_pb2.FilterConfig(config=pack_any(config)))
