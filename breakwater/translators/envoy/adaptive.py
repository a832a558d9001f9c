"""`bulkhead.adaptive` → Envoy's adaptive concurrency filter (gradient controller), per route.

A fixed bulkhead of 5 is too small at noon and too large at the incident.
Envoy's `envoy.filters.http.adaptive_concurrency` instead keeps the limit of
requests in flight that the service's latency says it can take: it measures
the minimum round-trip time (with the limit pinned to `minLimit` meanwhile),
then every `sampleWindow` scales the limit by (minimum RTT + tolerance) /
the window's latency, plus a burst headroom of √limit, within
[`minLimit`, `maxLimit`]. It is an HTTP filter of the listener, so, as
`admission` does for service-wide breakers, each gateway's connection
manager gets one filter per policy level its rules use, placed just before
the router (after admission control, so that the latencies it samples are
the upstream's own), and each rule turns off the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.http.adaptive_concurrency.v3 import adaptive_concurrency_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.v3 import http_status_pb2, percent_pb2
from google.protobuf import any_pb2, wrappers_pb2

from breakwater.translators.capacity_model import AdaptiveConcurrency
from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.ir.nodes import AdaptiveFilter

ADAPTIVE_CONCURRENCY = "envoy.filters.http.adaptive_concurrency"
_RUNTIME = "breakwater.adaptive_concurrency.enabled"
_GRADIENT = adaptive_concurrency_pb2.GradientControllerConfig
MIN_RTT_INTERVAL = timedelta(seconds=60)
"""Envoy's documented default, written out: Envoy refuses a measuring config without one."""

EXPLAIN: Meanings = {
    ("bulkhead", "adaptive"): FieldMeaning(
        f"route.adaptive_concurrency: the gateway's http filter {ADAPTIVE_CONCURRENCY}.LEVEL "
        "(gradient controller; LEVEL: the service, service|subset or fleet whose policy the "
        "rule takes); every other rule turns it off in typed_per_filter_config",
        "it answers 503 (`status`) not only past the limit but also while it measures the "
        "minimum round-trip time: for `minRttRequests` requests every `interval` the limit is "
        "pinned to `minLimit`, at startup too; set `minRtt` to skip measuring. Each proxy keeps "
        "its own limit for all the rule's hosts together (not per host), and a request's "
        "latency is counted until its last byte, so it does not fit streaming routes "
        "(validation refuses it on gRPC services). Stats: "
        "http.GATEWAY.adaptive_concurrency.gradient_controller.{concurrency_limit, "
        "min_rtt_msecs, rq_blocked}",
    ),
    ("bulkhead", "adaptive", "min_limit"): FieldMeaning(
        "gradient_controller_config.min_rtt_calc_params.min_concurrency",
        "Envoy's floor of the limit is also the limit while it measures the minimum RTT "
        "(default 3)",
    ),
    ("bulkhead", "adaptive", "max_limit"): FieldMeaning(
        "gradient_controller_config.concurrency_limit_params.max_concurrency_limit",
        "default 1000; the limit starts at minLimit and grows at most twice its size plus "
        "headroom per sampleWindow",
    ),
    ("bulkhead", "adaptive", "sample_window"): FieldMeaning(
        "gradient_controller_config.concurrency_limit_params.concurrency_update_interval",
        "Envoy requires it; Breakwater's default is 100ms",
    ),
    ("bulkhead", "adaptive", "percentile"): FieldMeaning(
        "gradient_controller_config.sample_aggregate_percentile", "Envoy default 50 (the median)"
    ),
    ("bulkhead", "adaptive", "tolerance"): FieldMeaning(
        "gradient_controller_config.min_rtt_calc_params.buffer",
        "latency up to this share above the minimum RTT does not shrink the limit (default 25)",
    ),
    ("bulkhead", "adaptive", "interval"): FieldMeaning(
        "gradient_controller_config.min_rtt_calc_params.interval",
        "Envoy default 60s: each measurement pins the limit to minLimit for a while",
    ),
    ("bulkhead", "adaptive", "min_rtt_requests"): FieldMeaning(
        "gradient_controller_config.min_rtt_calc_params.request_count", "Envoy default 50"
    ),
    ("bulkhead", "adaptive", "jitter"): FieldMeaning(
        "gradient_controller_config.min_rtt_calc_params.jitter",
        "Envoy default 10: a random delay of up to this share of interval",
    ),
    ("bulkhead", "adaptive", "min_rtt"): FieldMeaning(
        "gradient_controller_config.min_rtt_calc_params.fixed_value",
        "no measuring window and no 503s while measuring, but a service that gets slower for "
        "good keeps a limit shrunk to what this latency allows",
    ),
    ("bulkhead", "adaptive", "status"): FieldMeaning(
        "adaptive_concurrency.concurrency_limit_exceeded_status", "Envoy default 503"
    ),
}
"""What `breakwater explain` says about the fields translated here."""


def _percent(value: float) -> percent_pb2.Percent:
    return percent_pb2.Percent(value=value)


def adaptive_concurrency(
    adaptive: AdaptiveConcurrency,
) -> adaptive_concurrency_pb2.AdaptiveConcurrency:
    """The filter's configuration for one policy level's `bulkhead.adaptive`."""
    gradient = _GRADIENT()
    limits = gradient.concurrency_limit_params
    set_duration(limits.concurrency_update_interval, adaptive.sample_window)
    if adaptive.max_limit is not None:
        limits.max_concurrency_limit.value = adaptive.max_limit
    if adaptive.percentile is not None:
        gradient.sample_aggregate_percentile.CopyFrom(_percent(adaptive.percentile))
    rtt = gradient.min_rtt_calc_params
    if adaptive.min_rtt is not None:
        set_duration(rtt.fixed_value, adaptive.min_rtt)
    else:
        # Envoy requires the interval whenever it measures; its documented default is 60s.
        set_duration(rtt.interval, adaptive.interval or MIN_RTT_INTERVAL)
    if adaptive.min_rtt_requests is not None:
        rtt.request_count.value = adaptive.min_rtt_requests
    if adaptive.jitter is not None:
        rtt.jitter.CopyFrom(_percent(adaptive.jitter))
    if adaptive.min_limit is not None:
        rtt.min_concurrency.value = adaptive.min_limit
    if adaptive.tolerance is not None:
        rtt.buffer.CopyFrom(_percent(adaptive.tolerance))
    config = adaptive_concurrency_pb2.AdaptiveConcurrency(
        gradient_controller_config=gradient,
        enabled=base_pb2.RuntimeFeatureFlag(
            default_value=wrappers_pb2.BoolValue(value=True), runtime_key=_RUNTIME
        ),
    )
    if adaptive.status is not None:
        config.concurrency_limit_exceeded_status.CopyFrom(
            http_status_pb2.HttpStatus(code=adaptive.status)  # type: ignore[arg-type]
        )
    return config


def adaptive_filter(level: AdaptiveFilter) -> hcm_pb2.HttpFilter:
    """One level's filter in the gateway's connection manager, on; as with admission control,
    Envoy has no per-route configuration for it, so routes turn off those that are not theirs."""
    return hcm_pb2.HttpFilter(
        name=filter_name(level.level), typed_config=pack_any(adaptive_concurrency(level.adaptive))
    )


def filter_name(level: str) -> str:
    """The filter of a policy level: a service, `service|subset`, or `fleet`."""
    return f"{ADAPTIVE_CONCURRENCY}.{level}"


def route_filter_configs(own: str | None, gateway_levels: Iterable[str]) -> dict[str, any_pb2.Any]:
    """The `typed_per_filter_config` of a rule's Envoy routes: every adaptive concurrency filter
    of the gateway off, except the one of `own`, the rule's level."""
    off = pack_any(route_components_pb2.FilterConfig(disabled=True))
    return {filter_name(level): off for level in gateway_levels if level != own}
