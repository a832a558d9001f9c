"""Retry and Timeout → the route's `retry_policy`, `timeout` and `idle_timeout`.

Retries and request timeouts live on Envoy routes, not clusters, which is
why a route rule can override them; the retry budget and the connect timeout
live on the cluster (see `bulkhead` and `clusters`).
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2
from google.protobuf import wrappers_pb2

from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.model import Retry, Timeout

RETRIABLE_STATUS_CODES = "retriable-status-codes"

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
    if retry.backoff is not None:
        # Envoy's backoff is fully jittered and doubles each time up to
        # max_interval (default 10 times base); the multiplier is not configurable.
        set_duration(policy.retry_back_off.base_interval, retry.backoff.base_interval)
        if retry.backoff.max_interval is not None:
            set_duration(policy.retry_back_off.max_interval, retry.backoff.max_interval)
    return policy


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
