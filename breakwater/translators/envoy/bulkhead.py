"""Bulkhead and retry budget → the cluster's `circuit_breakers` thresholds.

Envoy calls its concurrency limits "circuit breakers", but they are what the
seed guide calls a bulkhead: limits on work in flight, counted per proxy (not
across the fleet), and overflow is an immediate 503 with response flag `UO`
rather than a queue that waits.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import circuit_breaker_pb2
from envoy.config.core.v3 import base_pb2
from envoy.type.v3 import percent_pb2

from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.model import Bulkhead, RetryBudget

EXPLAIN: Meanings = {
    ("bulkhead", "max_concurrent_requests"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].max_requests",
        "the limit is per proxy, not global; overflow is an immediate 503 with x-envoy-overloaded",
    ),
    ("bulkhead", "max_queued_requests"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].max_pending_requests = "
        "maxQueuedRequests + maxConcurrentRequests",
        "Envoy counts a request as waiting while its connection opens, so the admitted requests "
        "are added to the queue; requests beyond maxConcurrentRequests are refused at once, "
        "never queued (a real queue needs maxConnections)",
    ),
    ("bulkhead", "max_connections"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].max_connections", "per proxy"
    ),
    ("bulkhead", "max_concurrent_retries"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].max_retries",
        "retries in flight at once across the cluster, per proxy (Envoy default 3)",
    ),
    ("retry", "budget", "percent"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].retry_budget.budget_percent",
        "a cluster-wide cap on retries as a share of active requests; replaces max_retries",
    ),
    ("retry", "budget", "min_concurrency"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].retry_budget.min_retry_concurrency"
    ),
}
"""What `breakwater explain` says about the fields translated here."""


def retry_budget(budget: RetryBudget) -> circuit_breaker_pb2.CircuitBreakers.Thresholds.RetryBudget:
    """Retries in flight limited to a share of requests in flight.

    When a budget is set Envoy ignores `max_retries`, so a budget and
    `bulkhead.maxConcurrentRetries` together mean the budget wins.
    """
    out = circuit_breaker_pb2.CircuitBreakers.Thresholds.RetryBudget(
        budget_percent=percent_pb2.Percent(value=budget.percent)
    )
    if budget.min_concurrency is not None:
        out.min_retry_concurrency.value = budget.min_concurrency
    return out


def thresholds(
    bulkhead: Bulkhead | None, budget: RetryBudget | None
) -> circuit_breaker_pb2.CircuitBreakers.Thresholds | None:
    """The DEFAULT-priority thresholds, with only the limits the policy sets (Envoy's 1024 otherwise)."""
    out = circuit_breaker_pb2.CircuitBreakers.Thresholds(priority=base_pb2.RoutingPriority.DEFAULT)
    touched = False
    if bulkhead is not None:
        # Requests in flight to the whole cluster (HTTP/2 streams and HTTP/1 requests alike).
        if bulkhead.max_concurrent_requests is not None:
            out.max_requests.value = bulkhead.max_concurrent_requests
            touched = True
        # Requests waiting for a connection; beyond this, 503 at once. Envoy
        # counts a request as pending while its connection is being opened, so
        # a queue of 0 would refuse every request on a cold HTTP/1.1 pool: the
        # requests the bulkhead admits must fit in the pending limit too.
        if bulkhead.max_queued_requests is not None:
            admitted = bulkhead.max_concurrent_requests or 0
            out.max_pending_requests.value = bulkhead.max_queued_requests + admitted
            touched = True
        if bulkhead.max_connections is not None:
            out.max_connections.value = bulkhead.max_connections
            touched = True
        if bulkhead.max_concurrent_retries is not None:
            out.max_retries.value = bulkhead.max_concurrent_retries
            touched = True
    if budget is not None:
        out.retry_budget.CopyFrom(retry_budget(budget))
        touched = True
    return out if touched else None


def circuit_breakers(
    bulkhead: Bulkhead | None, budget: RetryBudget | None
) -> circuit_breaker_pb2.CircuitBreakers | None:
    found = thresholds(bulkhead, budget)
    if found is None:
        return None
    return circuit_breaker_pb2.CircuitBreakers(thresholds=[found])


def retry_limits_only(
    breakers: circuit_breaker_pb2.CircuitBreakers | None,
) -> circuit_breaker_pb2.CircuitBreakers | None:
    """The part of a cluster's limits that an aggregate (failover) cluster must repeat.

    Requests and connections are limited by the underlying clusters, but the
    router counts retries against the cluster the route names, which for a
    failover is the aggregate; without a copy, the retry limits would silently
    fall back to Envoy's defaults.
    """
    if breakers is None:
        return None
    kept: list[circuit_breaker_pb2.CircuitBreakers.Thresholds] = []
    for found in breakers.thresholds:
        limit = circuit_breaker_pb2.CircuitBreakers.Thresholds(priority=found.priority)
        if found.HasField("max_retries"):
            limit.max_retries.CopyFrom(found.max_retries)
        if found.HasField("retry_budget"):
            limit.retry_budget.CopyFrom(found.retry_budget)
        if limit.HasField("max_retries") or limit.HasField("retry_budget"):
            kept.append(limit)
    if not kept:
        return None
    return circuit_breaker_pb2.CircuitBreakers(thresholds=kept)
