"""RateLimit → Envoy's local rate limit filter (`envoy.filters.http.local_ratelimit`).

A limit is a token bucket inside each proxy: `burst` tokens at most, refilled
at `requests` per `per`, one token per request, 429 when the bucket is empty.
Where the limit is written decides which requests share a bucket, and the
most specific one wins: a rule's own limit (its Envoy routes), else its
route's (the route's virtual host), else its gateway's (the connection
manager). Limits do not add up: a request counts against one bucket only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2
from envoy.type.v3 import percent_pb2, token_bucket_pb2
from google.protobuf import wrappers_pb2

from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.model import Gateway
from breakwater.translators.route_model import HTTPRoute
from breakwater.translators.traffic_model import RateLimit

RETRY_AFTER = "retry-after"

EXPLAIN: Meanings = {
    ("rate_limit", "requests"): FieldMeaning(
        "local_ratelimit token_bucket.tokens_per_fill, on the most specific of: the rule's routes, "
        "the route's virtual host, the gateway's connection manager",
        "the bucket is in each proxy: ten proxies let ten times the limit through (`global` is "
        "one limit for all of them); a rule with "
        "several matches has one bucket per match (each is its own Envoy route), so limit the "
        "HTTPRoute to share one; a request over the limit is answered 429 with retry-after and "
        "counted in <statPrefix>.http_local_rate_limit.rate_limited",
    ),
    ("rate_limit", "per"): FieldMeaning(
        "local_ratelimit token_bucket.fill_interval",
        "tokens come back steadily (requests / per each), not all at once at the end of `per`",
    ),
    ("rate_limit", "burst"): FieldMeaning(
        "local_ratelimit token_bucket.max_tokens",
        "defaults to `requests`: after a quiet spell, at most this many requests pass at once",
    ),
}
"""What `breakwater explain` says about the fields translated here (paths under a rule)."""


def _all_requests() -> base_pb2.RuntimeFractionalPercent:
    """Envoy's local rate limit is off (0 %) unless told otherwise, for safety."""
    return base_pb2.RuntimeFractionalPercent(
        default_value=percent_pb2.FractionalPercent(
            numerator=100, denominator=percent_pb2.FractionalPercent.HUNDRED
        )
    )


def _bucket(limit: RateLimit) -> tuple[int, timedelta]:
    """`requests` and `per` of a limit in each proxy (`RateLimit.local`)."""
    if limit.requests is None or limit.per is None:
        raise ValueError("the rate limit has no limit in each proxy (`requests`, `per`)")
    return limit.requests, limit.per


def retry_after_seconds(limit: RateLimit) -> int:
    """Whole seconds until the bucket holds a token again, at most: one token's refill time."""
    requests, per = _bucket(limit)
    return max(1, math.ceil(per.total_seconds() / requests))


def token_bucket(limit: RateLimit) -> token_bucket_pb2.TokenBucket:
    requests, per = _bucket(limit)
    bucket = token_bucket_pb2.TokenBucket(
        max_tokens=limit.burst if limit.burst is not None else requests,
        tokens_per_fill=wrappers_pb2.UInt32Value(value=requests),
    )
    set_duration(bucket.fill_interval, per)
    return bucket


def local_rate_limit(limit: RateLimit, stat_prefix: str) -> local_rate_limit_pb2.LocalRateLimit:
    """One bucket, enforced on every request it sees, with a `retry-after` on each 429."""
    return local_rate_limit_pb2.LocalRateLimit(
        stat_prefix=stat_prefix,
        token_bucket=token_bucket(limit),
        filter_enabled=_all_requests(),
        filter_enforced=_all_requests(),
        response_headers_to_add=[
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key=RETRY_AFTER, value=str(retry_after_seconds(limit))),
                append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
            )
        ],
    )


LimitPart = Literal["local", "global"]
"""A rate limit's token bucket in each proxy, or its limit shared by every proxy."""


def has_part(limit: RateLimit | None, part: LimitPart) -> bool:
    if limit is None:
        return False
    return limit.local if part == "local" else limit.global_ is not None


def effective_rate_limits(
    gateways: Mapping[str, Gateway], route: HTTPRoute, rule_index: int, part: LimitPart = "local"
) -> list[tuple[str, RateLimit]]:
    """Who limits one rule's requests, and how: the rule, else its route, else each gateway's.

    The bucket in each proxy and the global limit each go to the most specific
    `rateLimit` that has one, apart: a rule with only a global limit is still
    limited in each proxy by its route's bucket. A route on several gateways
    with limits of their own is limited by each of them on its own listener, so
    there is one answer per such gateway.
    """
    rule = route.spec.rules[rule_index]
    if rule.rate_limit is not None and has_part(rule.rate_limit, part):
        return [(f"HTTPRoute/{route.name} rule {rule_index}", rule.rate_limit)]
    if route.spec.rate_limit is not None and has_part(route.spec.rate_limit, part):
        return [(f"HTTPRoute/{route.name}", route.spec.rate_limit)]
    found: list[tuple[str, RateLimit]] = []
    for name in route.spec.gateways:
        gateway = gateways.get(name)
        limit = None if gateway is None else gateway.spec.rate_limit
        if limit is not None and has_part(limit, part):
            found.append((f"Gateway/{name}", limit))
    return found
