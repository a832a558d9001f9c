"""What gRPC's own xDS client carries out, and what a policy asks of it that it cannot.

gRPC clients (grpcio and every C-core wrapper, grpc-go, grpc-java, grpc-js with
@grpc/grpc-js-xds) read a subset of Envoy's configuration, fixed by the gRFCs:
A27 (LDS with an `api_listener`, RDS, CDS of type EDS, EDS with weighted
localities, ROUND_ROBIN), A28 (route matching and weighted clusters), A31
(`max_stream_duration` timeouts), A32 (`max_requests`), A33 (fault injection),
A39 (the HTTP filters: router, fault), A42 (RING_HASH and header hash policies),
A44 (retries on gRPC status codes) and A50 (outlier detection by success rate
and failure percentage). What a client does not implement it either ignores or
NACKs, and a NACK of a listener leaves every call to that service failing, so
the proxyless slice (`envoy.proxyless`) writes only what is listed here.

Every `protocol: grpc` Service with endpoints is served to gRPC clients
(`Service.spec.served_proxyless`, unless it says `proxyless: false`), and
they are sent only what they implement. A policy field outside that subset
is then one of two things:

- refused (`validate` and `serve` refuse the policy set with a located
  sentence), when the service is declared for proxyless clients (a mesh
  route is attached to it, or it says `proxyless: true`) and the field
  changes what callers get: silently dropping it for some callers would lie
  to the operator (least-request, a rate limit, a fallback response...);
- not applied on the proxyless clients, and said so on the policy's status:
  a tuning gRPC leaves to itself (connect timeout, active health checks,
  slow start...), or any field on a service nobody declared for proxyless
  clients (a gRPC service Envoy fronts keeps its least-request).

Clients are told apart by the node's `user_agent_name`, which every gRPC
implementation fills in ("gRPC Go", "gRPC Java", "gRPC C-core", "gRPC Node
Pure JS"...) and Envoy sets to `envoy`. Every gRPC implementation released
since these gRFCs landed implements the whole subset, so they share one profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

from breakwater.translators.model import ResilienceSpec, RetryCondition
from breakwater.translators.route_model import RouteRule

GRPC = "grpc"
"""The one client profile today: every gRPC implementation with an xDS client."""

GRPC_RETRY_ON: frozenset[RetryCondition] = frozenset(
    {"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}
)
"""The `retry_on` conditions gRPC turns into retryable status codes (A44); it ignores others."""

GRPC_BALANCERS = frozenset({"round-robin", "ring-hash"})
"""The cluster `lb_policy` values gRPC accepts (A27, A42); any other makes it NACK the cluster."""

CLIENT = "gRPC's xDS client"


@dataclass(frozen=True)
class Proxyless:
    """What a group of proxyless clients is built from, in place of a set of gateways: every
    service served to proxyless clients, as a client of this profile is sent it."""

    profile: str


def client_profile(user_agent_name: str) -> str | None:
    """The profile of a node that says it is a gRPC client, None for Envoy and the rest."""
    return GRPC if user_agent_name.lower().startswith("grpc") else None


@dataclass(frozen=True)
class Gap:
    """One field a proxyless client cannot carry out."""

    path: tuple[str | int, ...]
    """The field, camelCase, under the policy's (or the rule's) spec."""
    reason: str
    """A sentence: what gRPC does not implement."""
    verdict: Literal["refused", "not-applied"]
    advice: str = ""
    """What to do instead (refused fields)."""

    @property
    def field(self) -> str:
        return ".".join(map(str, self.path))

    def sentence(self, service: str) -> str:
        """The located error's message (the file, line and field come with it)."""
        text = (
            f"{self.reason}, and service {service!r} is declared for proxyless gRPC clients "
            "(a route is attached to it, or it says `proxyless: true`)"
        )
        return f"{text}: {self.advice}" if self.advice else text

    def note(self) -> str:
        """What the policy's status says of a gap on a service gRPC clients are served."""
        return self.reason


_NOT_SERVED = "or set the service's `proxyless: false` to keep it for Envoy alone"


def policy_gaps(spec: ResilienceSpec) -> Iterator[Gap]:
    """What of a (merged) ResiliencePolicy gRPC cannot carry out, refused fields first."""
    balancer = spec.load_balancer
    if balancer is not None and balancer.policy not in GRPC_BALANCERS:
        yield Gap(
            ("loadBalancer", "policy"),
            f"{balancer.policy} is not implemented by {CLIENT}",
            "refused",
            f"use round-robin or ring-hash, {_NOT_SERVED}",
        )
    if balancer is not None and balancer.hash_on is not None and balancer.hash_on.header is None:
        kind = "cookie" if balancer.hash_on.cookie is not None else "sourceIp"
        yield Gap(
            ("loadBalancer", "hashOn", kind),
            f"hashing on a {kind} is not implemented by {CLIENT} (only a header)",
            "refused",
            f"hash on a header, {_NOT_SERVED}",
        )
    breaker = spec.circuit_breaker
    if breaker is not None:
        for name, value in (
            ("consecutiveErrors", breaker.consecutive_errors),
            ("consecutiveGatewayErrors", breaker.consecutive_gateway_errors),
        ):
            if value is not None:
                yield Gap(
                    ("circuitBreaker", name),
                    f"ejection after consecutive errors is not implemented by {CLIENT} (it ejects "
                    "by failure rate and success rate only)",
                    "refused",
                    f"use failureRateThreshold with minimumRequests, {_NOT_SERVED}",
                )
        if breaker.scope == "service":
            yield Gap(
                ("circuitBreaker", "scope"),
                f"a service-wide breaker (Envoy's admission control) is not implemented by {CLIENT}",
                "refused",
                f"use the per-host breaker, {_NOT_SERVED}",
            )
        if breaker.panic_threshold is not None:
            yield Gap(
                ("circuitBreaker", "panicThreshold"),
                f"the panic threshold is not implemented by {CLIENT}",
                "not-applied",
            )
    bulkhead = spec.bulkhead
    if bulkhead is not None:
        for name, value in (
            ("maxQueuedRequests", bulkhead.max_queued_requests),
            ("maxConnections", bulkhead.max_connections),
            ("maxConcurrentRetries", bulkhead.max_concurrent_retries),
        ):
            if value is not None:
                yield Gap(
                    ("bulkhead", name),
                    f"bulkhead.{name} is not implemented by {CLIENT} (of the bulkhead, only "
                    "maxConcurrentRequests)",
                    "refused",
                    f"keep maxConcurrentRequests alone, {_NOT_SERVED}",
                )
    retry = spec.retry
    if retry is not None:
        others = [c for c in retry.retry_on if c not in GRPC_RETRY_ON]
        if others:
            yield Gap(
                ("retry", "retryOn"),
                f"retrying on {', '.join(others)} is not implemented by {CLIENT} (it retries on "
                "gRPC status codes only)",
                "refused",
                "give retryOn from cancelled, deadline-exceeded, internal, resource-exhausted "
                f"and unavailable, {_NOT_SERVED}",
            )
        if retry.retriable_status_codes:
            yield Gap(
                ("retry", "retriableStatusCodes"),
                f"retrying on HTTP status codes is not implemented by {CLIENT}",
                "refused",
                f"retry on gRPC status codes (retryOn), {_NOT_SERVED}",
            )
        if retry.per_try_timeout is not None:
            yield Gap(
                ("retry", "perTryTimeout"),
                f"a per-try timeout is not implemented by {CLIENT}",
                "not-applied",
            )
        if retry.budget is not None:
            yield Gap(
                ("retry", "budget"),
                f"a retry budget is not implemented by {CLIENT}",
                "not-applied",
            )
    if spec.failover is not None:
        yield Gap(
            ("failover",),
            f"failover to another service is not served to {CLIENT} by Breakwater",
            "refused",
            f"remove failover for this service, {_NOT_SERVED}",
        )
    if spec.fallback is not None:
        yield Gap(
            ("fallback",),
            f"a fallback response is not implemented by {CLIENT}",
            "refused",
            f"answer the failure in the caller, {_NOT_SERVED}",
        )
    timeout = spec.timeout
    if timeout is not None:
        for name, duration in (("connect", timeout.connect), ("idle", timeout.idle)):
            if duration is not None:
                yield Gap(
                    ("timeout", name),
                    f"timeout.{name} is not implemented by {CLIENT}",
                    "not-applied",
                )
    if spec.health_check is not None:
        yield Gap(
            ("healthCheck",),
            f"active health checks are not implemented by {CLIENT} (EDS health status and "
            "outlier detection are)",
            "not-applied",
        )
    if balancer is not None and balancer.slow_start is not None:
        yield Gap(
            ("loadBalancer", "slowStart"),
            f"slow start is not implemented by {CLIENT}",
            "not-applied",
        )


_RULE_FIELDS = (
    ("rate_limit", "rateLimit", "a local rate limit"),
    ("mirror", "mirror", "request mirroring"),
    ("request_headers", "requestHeaders", "request header changes"),
    ("response_headers", "responseHeaders", "response header changes"),
    ("redirect", "redirect", "a redirect"),
    ("direct_response", "directResponse", "a direct response"),
    ("rewrite", "rewrite", "a rewrite"),
    ("fallback", "fallback", "a fallback response"),
)


def rule_gaps(rule: RouteRule) -> Iterator[Gap]:
    """What of a route rule attached to a service gRPC cannot carry out (its own retry and
    timeout as a policy's; all the rest refused)."""
    if rule.retry is not None or rule.timeout is not None:
        own = ResilienceSpec(retry=rule.retry, timeout=rule.timeout)
        yield from (
            replace(gap, advice=gap.advice.replace(f", {_NOT_SERVED}", ""))
            for gap in policy_gaps(own)
        )
    if rule.sticky is not None and len(rule.backends) > 1:
        yield Gap(
            ("sticky",),
            f"keeping a caller on one of several weighted backends by a header's hash is not "
            f"implemented by {CLIENT} (it picks the weighted backend at random on each call; a "
            "header's hash picks the host of a ring-hash cluster)",
            "refused",
            "give the rule one backend, or hash on the header in the service's loadBalancer "
            "(ring-hash, hashOn.header)",
        )
    for attribute, name, what in _RULE_FIELDS:
        if getattr(rule, attribute) is not None:
            yield Gap(
                (name,),
                f"{what} is not implemented by {CLIENT}",
                "refused",
                "remove it from the rule, or attach the route to a Gateway instead of the service",
            )
    for index, match in enumerate(rule.matches):
        if match.query_params:
            yield Gap(
                ("matches", index, "queryParams"),
                f"gRPC calls carry no query string, and {CLIENT} skips routes that match on one",
                "refused",
                "match on metadata (headers) instead",
            )
        if match.method is not None and match.method != "POST":
            yield Gap(
                ("matches", index, "method"),
                f"every gRPC call is a POST, so a {match.method} match never matches",
                "refused",
                "remove the method match",
            )


__all__ = [
    "CLIENT",
    "GRPC",
    "GRPC_BALANCERS",
    "GRPC_RETRY_ON",
    "Gap",
    "Proxyless",
    "client_profile",
    "policy_gaps",
    "rule_gaps",
]
