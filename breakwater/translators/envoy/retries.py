"""Retry and Timeout → the route's `retry_policy`, `hedge_policy`, `timeout` and `idle_timeout`.

Retries and request timeouts live on Envoy routes, not clusters, which is
why a route rule can override them; the retry budget and the connect timeout
live on the cluster (see `bulkhead` and `clusters`).
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from google.protobuf import wrappers_pb2

from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.model import Retry, Timeout

RETRIABLE_STATUS_CODES = "retriable-status-codes"
PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts"
HOST_SELECTION_ATTEMPTS = 3
"""How often Envoy re-picks a host for a hedge that landed on one already tried."""

EXPLAIN: Meanings = {
    ("retry", "attempts"): FieldMeaning(
        "route.retry_policy.num_retries = attempts - 1",
        "attempts counts the first try, like Resilience4j's maxAttempts; Envoy counts retries only",
    ),
    ("retry", "per_try_timeout"): FieldMeaning("route.retry_policy.per_try_timeout"),
    ("retry", "retry_on"): FieldMeaning(
        "route.retry_policy.retry_on",
        "Breakwater's default is 5xx, reset, connect-failure, refused-stream; Envoy retries nothing "
        "without it",
    ),
    ("retry", "retriable_status_codes"): FieldMeaning(
        "route.retry_policy.retriable_status_codes (+ retry_on: retriable-status-codes)"
    ),
    ("retry", "backoff", "base_interval"): FieldMeaning(
        "route.retry_policy.retry_back_off.base_interval",
        "Envoy's backoff is fully jittered and doubles each retry up to maxInterval (default 10 x "
        "base); the multiplier cannot be changed",
    ),
    ("retry", "backoff", "max_interval"): FieldMeaning(
        "route.retry_policy.retry_back_off.max_interval"
    ),
    ("retry", "hedge"): FieldMeaning(
        "route.hedge_policy.hedge_on_per_try_timeout (+ retry_policy.retry_host_predicate: "
        "previous_hosts)",
        "a hedge is not a parallel request sent up front: Envoy sends the next attempt only when "
        "an attempt's perTryTimeout fires, and keeps the slow one running; the first answer wins, "
        "the other is reset. Each hedge is a retry: it spends `attempts`, the retry budget and "
        "bulkhead.maxConcurrentRetries (Envoy's default allows 3 retries in flight per cluster); "
        "Breakwater sends the hedge to a host not tried yet when there is one. Envoy does not "
        "count a hedged attempt's timeout in upstream_rq_per_try_timeout: hedges show in "
        "upstream_rq_retry, and the losing attempt as a reset connection",
    ),
    ("timeout", "request"): FieldMeaning(
        "route.timeout",
        "covers all attempts, retries included; Envoy answers 504 when it expires; 0s turns it "
        "off (Envoy's default is 15s)",
    ),
    ("timeout", "idle"): FieldMeaning("route.idle_timeout"),
}
"""What `breakwater explain` says about the fields translated here."""


def retry_on(retry: Retry) -> str:
    """Envoy's comma-separated conditions, in the user's order, without repeats.

    Status codes alone retry nothing in Envoy: they only count under the
    `retriable-status-codes` condition, so it is added when codes are given.
    """
    conditions: list[str] = list(dict.fromkeys(retry.retry_on))
    if retry.retriable_status_codes and RETRIABLE_STATUS_CODES not in conditions:
        conditions.append(RETRIABLE_STATUS_CODES)
    return ",".join(conditions)


def retry_policy(retry: Retry | None) -> route_components_pb2.RetryPolicy | None:
    if retry is None:
        return None
    policy = route_components_pb2.RetryPolicy(
        retry_on=retry_on(retry),
        # `attempts` counts the first try, as Resilience4j's maxAttempts does.
        num_retries=wrappers_pb2.UInt32Value(value=retry.attempts - 1),
    )
    if retry.retriable_status_codes:
        policy.retriable_status_codes.extend(retry.retriable_status_codes)
    if retry.per_try_timeout is not None:
        set_duration(policy.per_try_timeout, retry.per_try_timeout)
    if retry.hedge:
        # A hedge sent to the slow host it hedges against is wasted: when
        # another host exists, Envoy picks one it has not tried yet.
        policy.retry_host_predicate.append(
            route_components_pb2.RetryPolicy.RetryHostPredicate(
                name=PREVIOUS_HOSTS,
                typed_config=pack_any(previous_hosts_pb2.PreviousHostsPredicate()),
            )
        )
        policy.host_selection_retry_max_attempts = HOST_SELECTION_ATTEMPTS
    if retry.backoff is not None:
        # Envoy's backoff is fully jittered and doubles each time up to
        # max_interval (default 10 times base); the multiplier is not configurable.
        set_duration(policy.retry_back_off.base_interval, retry.backoff.base_interval)
        if retry.backoff.max_interval is not None:
            set_duration(policy.retry_back_off.max_interval, retry.backoff.max_interval)
    return policy


def hedge_policy(retry: Retry | None) -> route_components_pb2.HedgePolicy | None:
    """`hedge_on_per_try_timeout`: a per-try timeout starts a retry without resetting the slow attempt.

    Without it a per-try timeout cancels the attempt it cut; with it the
    attempt keeps running, and whichever of the attempts answers first (with a
    response that is not itself retried) is what the client gets.
    """
    if retry is None or not retry.hedge:
        return None
    return route_components_pb2.HedgePolicy(hedge_on_per_try_timeout=True)


def apply_timeout(action: route_components_pb2.RouteAction, timeout: Timeout | None) -> None:
    """Set the whole-request timeout (Envoy's default is 15 s) and the stream idle timeout.

    The request timeout covers every retry together; `perTryTimeout` bounds
    each attempt.
    """
    if timeout is None:
        return
    if timeout.request is not None:
        set_duration(action.timeout, timeout.request)
    if timeout.idle is not None:
        set_duration(action.idle_timeout, timeout.idle)
