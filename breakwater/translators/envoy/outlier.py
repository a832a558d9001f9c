"""CircuitBreaker → Envoy outlier detection, and the panic threshold.

A Hystrix or Resilience4j breaker opens for the whole dependency and sends a
half-open probe after the wait. Envoy's outlier detection is different, and
the comments below say where:

- it ejects one *host* at a time, never the service as a whole;
- there is no half-open state: an ejected host simply comes back after
  `base_ejection_time` times the number of times it was ejected (capped by
  `max_ejection_time`) and is judged again by live traffic;
- when most hosts are out, the panic threshold sends traffic to all of them,
  ejected ones included.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import outlier_detection_pb2
from envoy.type.v3 import percent_pb2

from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.model import CircuitBreaker

ENFORCED = 100
NOT_ENFORCED = 0

EXPLAIN: Meanings = {
    ("circuit_breaker", "consecutive_errors"): FieldMeaning(
        "cluster.outlier_detection.consecutive_5xx (+ enforcing_consecutive_5xx: 100)",
        "Envoy ejects the one failing host, not the whole service; there is no half-open probe: "
        "the host returns when its ejection time is over",
    ),
    ("circuit_breaker", "consecutive_gateway_errors"): FieldMeaning(
        "cluster.outlier_detection.consecutive_gateway_failure (+ enforcing_consecutive_gateway_failure: 100)",
        "counts only 502, 503 and 504; per host",
    ),
    ("circuit_breaker", "local_origin_failures"): FieldMeaning(
        "cluster.outlier_detection.consecutive_local_origin_failure (+ "
        "split_external_local_origin_errors: true, enforcing_consecutive_local_origin_failure: 100)",
        "counts what the proxy itself saw go wrong with a host (connect refused or timed out, "
        "reset, per-try timeout), per host; once it is set, consecutiveErrors and "
        "consecutiveGatewayErrors count only answers the host really sent, so a host that refuses "
        "connections is ejected by this count alone (every attempt counts, retried ones too); "
        "ejections show in outlier_detection.ejections_enforced_consecutive_local_origin_failure",
    ),
    ("circuit_breaker", "failure_rate_threshold"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_threshold (+ enforcing_failure_percentage: 100)",
        "Hystrix opens the breaker for the whole service; Envoy ejects each host whose own failure "
        "percentage is above the threshold in one interval",
    ),
    ("circuit_breaker", "minimum_requests"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_request_volume",
        "counted per host per interval, not across the service over a rolling window",
    ),
    ("circuit_breaker", "minimum_hosts"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_minimum_hosts",
        "Envoy's own default is 5, which stops small clusters from ever ejecting on failure rate; "
        "Breakwater defaults to 1",
    ),
    ("circuit_breaker", "interval"): FieldMeaning(
        "cluster.outlier_detection.interval", "Envoy default 10s when unset"
    ),
    ("circuit_breaker", "open_duration"): FieldMeaning(
        "cluster.outlier_detection.base_ejection_time",
        "the ejection time is this times the number of times the host was ejected, capped by "
        "maxOpenDuration (Envoy default 30s when unset); no half-open state",
    ),
    ("circuit_breaker", "max_open_duration"): FieldMeaning(
        "cluster.outlier_detection.max_ejection_time", "Envoy default 300s when unset"
    ),
    ("circuit_breaker", "max_ejection_percent"): FieldMeaning(
        "cluster.outlier_detection.max_ejection_percent (+ always_eject_one_host: true)",
        "Envoy's own default of 10 % ejects nothing in a cluster of fewer than ten hosts; "
        "Breakwater defaults to 100 and always lets one host be ejected",
    ),
    ("circuit_breaker", "panic_threshold"): FieldMeaning(
        "cluster.common_lb_config.healthy_panic_threshold",
        "when fewer than this percentage of hosts are healthy, Envoy sends traffic to all hosts, "
        "ejected ones included (Envoy default 50 % when unset); 0 turns panic mode off",
    ),
}
"""What `breakwater explain` says about the fields translated here."""


def _enforcing(asked: bool) -> int:
    return ENFORCED if asked else NOT_ENFORCED


def has_trigger(breaker: CircuitBreaker | None) -> bool:
    """Envoy's outlier detection is only worth emitting when something can eject a host."""
    if breaker is None:
        return False
    return (
        breaker.consecutive_errors is not None
        or breaker.consecutive_gateway_errors is not None
        or breaker.failure_rate_threshold is not None
        or breaker.local_origin_failures is not None
    )


def outlier_detection(
    breaker: CircuitBreaker | None,
) -> outlier_detection_pb2.OutlierDetection | None:
    """The cluster's `outlier_detection`, or None when no trigger is set.

    An empty `outlier_detection` block already turns on consecutive-5xx and
    success-rate ejection with Envoy's defaults, so every `enforcing_*` is
    written out: 100 for the triggers the policy names, 0 for all others.
    """
    if breaker is None or not has_trigger(breaker):
        return None
    od = outlier_detection_pb2.OutlierDetection()

    # Per host: a host is ejected after this many 5xx (or locally originated
    # failures such as connect errors) in a row; its peers keep serving.
    if breaker.consecutive_errors is not None:
        od.consecutive_5xx.value = breaker.consecutive_errors
    od.enforcing_consecutive_5xx.value = _enforcing(breaker.consecutive_errors is not None)

    if breaker.consecutive_gateway_errors is not None:
        od.consecutive_gateway_failure.value = breaker.consecutive_gateway_errors
    od.enforcing_consecutive_gateway_failure.value = _enforcing(
        breaker.consecutive_gateway_errors is not None
    )

    # Per host and per interval: the failure rate, the minimum request volume
    # and the minimum number of hosts are all judged for each host separately
    # in each `interval`, not over a sliding window of the whole service.
    # Envoy takes whole percentages here, so 33.3 becomes 33.
    rate_asked = breaker.failure_rate_threshold is not None
    if breaker.failure_rate_threshold is not None:
        od.failure_percentage_threshold.value = round(breaker.failure_rate_threshold)
        if breaker.minimum_requests is not None:
            od.failure_percentage_request_volume.value = breaker.minimum_requests
        od.failure_percentage_minimum_hosts.value = breaker.minimum_hosts
    od.enforcing_failure_percentage.value = _enforcing(rate_asked)

    # Split: connect failures, resets and timeouts the proxy saw itself are
    # counted apart from the host's own 5xx answers, so a host that refuses
    # connections and one that answers 503 are told apart. Without the split,
    # Envoy folds local failures into the 5xx and gateway-error counts.
    if breaker.local_origin_failures is not None:
        od.split_external_local_origin_errors = True
        od.consecutive_local_origin_failure.value = breaker.local_origin_failures
    od.enforcing_consecutive_local_origin_failure.value = _enforcing(
        breaker.local_origin_failures is not None
    )

    # Success-rate (outlier by standard deviation) and the other local-origin
    # detectors are never asked for by a Breakwater policy.
    od.enforcing_success_rate.value = _enforcing(False)
    od.enforcing_local_origin_success_rate.value = _enforcing(False)
    od.enforcing_failure_percentage_local_origin.value = _enforcing(False)

    if breaker.interval is not None:
        set_duration(od.interval, breaker.interval)
    # No half-open probe: this is how long the first ejection lasts; each
    # further ejection of the same host lasts a multiple of it.
    if breaker.open_duration is not None:
        set_duration(od.base_ejection_time, breaker.open_duration)
    if breaker.max_open_duration is not None:
        set_duration(od.max_ejection_time, breaker.max_open_duration)
    od.max_ejection_percent.value = round(breaker.max_ejection_percent)
    # Without this, a percentage cap below one host (10 % of a two-host
    # cluster) means nothing is ever ejected; the policy says "eject".
    od.always_eject_one_host.value = True
    return od


def healthy_panic_threshold(breaker: CircuitBreaker | None) -> percent_pb2.Percent | None:
    """`common_lb_config.healthy_panic_threshold`, only when the policy sets it.

    Below this share of healthy hosts Envoy stops trusting health and spreads
    traffic over every host, ejected and failing ones included: it prefers
    some errors to overloading the few healthy hosts. 0 turns panic mode off.
    """
    if breaker is None or breaker.panic_threshold is None:
        return None
    return percent_pb2.Percent(value=breaker.panic_threshold)
