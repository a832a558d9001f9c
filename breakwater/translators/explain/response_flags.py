"""What each Envoy response flag in an access log line or a span says about Breakwater's policies.

Envoy writes a flag (`%RESPONSE_FLAGS%`, the span's `response_flags` tag)
when it answered a request itself or cut it short. Each flag below names
the policy fields that make Envoy do that, if any, and whether those fields
live on the upstream cluster (read the line's `upstream_cluster`) or on the
route (read its `route_name`), so that `breakwater explain` can name the
document that acted: a ResiliencePolicy, or a rule's own retry, timeout,
fault or rate limit (or its HTTPRoute's or Gateway's rate limit). `tests/translators/test_response_flags.py`
keeps the README's table in step with this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from breakwater.translators.policyset import FieldPath


@dataclass(frozen=True)
class ResponseFlag:
    code: str
    """As `%RESPONSE_FLAGS%` writes it."""
    envoy_name: str
    """As `%RESPONSE_FLAGS_LONG%` writes it."""
    meaning: str
    """What happened, in Breakwater's words."""
    fields: tuple[FieldPath, ...] = ()
    """The ResiliencePolicy fields that make Envoy do this: paths under ResilienceSpec, each
    standing for itself and every field inside it."""
    level: Literal["cluster", "route"] | None = None
    """Where those fields take effect: the line's upstream_cluster, or its route_name."""
    rule_fields: tuple[FieldPath, ...] = ()
    """What a route rule does itself that makes Envoy do this: paths under RouteRule (a
    rate limit may also come from the rule's HTTPRoute or Gateway)."""


RESPONSE_FLAGS: tuple[ResponseFlag, ...] = (
    ResponseFlag(
        "UO",
        "UpstreamOverflow",
        "a bulkhead refused it: the cluster had maxConcurrentRequests requests in flight "
        "(or maxQueuedRequests waiting, or maxConnections open), answered 503 at once with "
        "x-envoy-overloaded; also a retry refused by maxConcurrentRetries or the retry budget",
        (("bulkhead",), ("retry", "budget")),
        "cluster",
    ),
    ResponseFlag(
        "UH",
        "NoHealthyUpstream",
        "no healthy host: the circuit breaker ejected them, they fail their health check, or "
        "the subset selects no endpoint; 503 (a failover moves traffic before this)",
        (("circuit_breaker",), ("health_check",)),
        "cluster",
    ),
    ResponseFlag(
        "URX",
        "UpstreamRetryLimitExceeded",
        "retries exhausted: every one of retry.attempts failed; the response is the last attempt's",
        (("retry", "attempts"),),
        "route",
    ),
    ResponseFlag(
        "UT",
        "UpstreamRequestTimeout",
        "timeout: timeout.request ran out (all attempts together), or the last attempt's "
        "retry.perTryTimeout; 504",
        (("timeout", "request"), ("retry", "per_try_timeout")),
        "route",
    ),
    ResponseFlag(
        "SI",
        "StreamIdleTimeout",
        "nothing moved on the request for timeout.idle (Envoy's own default: 5 minutes)",
        (("timeout", "idle"),),
        "route",
    ),
    ResponseFlag(
        "UF",
        "UpstreamConnectionFailure",
        "no connection to the host: refused, or not made within timeout.connect (Envoy's "
        "default: 5 s); retried when retryOn has connect-failure",
        (("timeout", "connect"),),
        "cluster",
    ),
    ResponseFlag(
        "RL",
        "RateLimited",
        "a rateLimit refused it: the rule's, else its HTTPRoute's, else its Gateway's token "
        "bucket was empty (429 with retry-after), or the rate-limit service counted its "
        "`global` limit as reached (429 with x-envoy-ratelimited)",
        level="route",
        rule_fields=(("rate_limit",),),
    ),
    ResponseFlag(
        "RLSE",
        "RateLimitServiceError",
        "the rate-limit service could not answer (down, over 200ms, or an error) and the "
        "rule's `global` limit has failureMode: closed; 503",
        level="route",
        rule_fields=(("rate_limit", "global_"),),
    ),
    ResponseFlag(
        "FI",
        "FaultInjected",
        "a drill: the rule's fault.abort answered it with its status; the backend never saw it",
        level="route",
        rule_fields=(("fault", "abort"),),
    ),
    ResponseFlag(
        "DI",
        "DelayInjected",
        "a drill: the rule's fault.delay held it before forwarding (the answer is the backend's)",
        level="route",
        rule_fields=(("fault", "delay"),),
    ),
    ResponseFlag(
        "UC",
        "UpstreamConnectionTermination",
        "the host closed the connection before it answered",
    ),
    ResponseFlag(
        "UR",
        "UpstreamRemoteReset",
        "the host reset the stream; retried when retryOn has reset",
    ),
    ResponseFlag(
        "LR",
        "LocalReset",
        "Envoy reset the stream itself",
    ),
    ResponseFlag(
        "UPE",
        "UpstreamProtocolError",
        "the host does not speak what the Service's protocol says (http, http2, grpc)",
    ),
    ResponseFlag(
        "DF",
        "DnsResolutionFailed",
        "the name of a `dns` Service did not resolve",
    ),
    ResponseFlag(
        "NR",
        "NoRouteFound",
        "no HTTPRoute of this gateway matches the host and path; 404",
    ),
    ResponseFlag(
        "NC",
        "NoClusterFound",
        "the route's backend has no cluster on this proxy (a Service that is not declared)",
    ),
    ResponseFlag(
        "DC",
        "DownstreamConnectionTermination",
        "the client went away before the response was sent",
    ),
    ResponseFlag(
        "DPE",
        "DownstreamProtocolError",
        "the client's request was not valid HTTP",
    ),
)
"""The flags Breakwater's gateways can produce, those its policies cause first."""
