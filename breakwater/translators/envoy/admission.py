"""`circuitBreaker.scope: service` → Envoy's admission control filter, enabled per route.

Outlier detection ejects one host at a time; a service whose every host
fails needs something that looks at the service as a whole. Envoy's
`envoy.filters.http.admission_control` keeps the success rate of the
requests it sees over a sliding window and rejects new requests locally
(503) with a probability that grows as that rate falls under the
threshold. It is an HTTP filter of the listener, so each gateway's
connection manager gets one filter per policy level its routes use
(`payments`, `payments|canary`, or `fleet` for a rule across services),
and each rule turns off the others in `typed_per_filter_config`. Which level a rule takes follows the rule-level
policy of `PolicySet.effective_for_rule`, as retries and timeouts do.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.http.admission_control.v3 import admission_control_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.v3 import percent_pb2, range_pb2
from google.protobuf import any_pb2, wrappers_pb2

from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.ir.nodes import AdmissionFilter
from breakwater.translators.model import CircuitBreaker

ADMISSION_CONTROL = "envoy.filters.http.admission_control"
_RUNTIME = "breakwater.admission_control"

EXPLAIN: Meanings = {
    ("circuit_breaker", "scope"): FieldMeaning(
        f"route.admission_control: the gateway's http filter {ADMISSION_CONTROL}.LEVEL (LEVEL: "
        "the service, service|subset or fleet whose policy the rule takes); every other rule "
        "turns it off in typed_per_filter_config",
        "not Hystrix: there is no open, closed or half-open state and no probe; while the "
        "success rate over `window` is under the threshold Envoy rejects each new request "
        "locally (503) with a probability that grows as the rate falls, so a share keeps "
        "reaching the service and shedding fades as it recovers. Not per-host ejection either: "
        "it counts every request of the rule on this proxy, whichever host answered, and "
        "ejects nothing. Each proxy decides alone; its stats "
        "(http.GATEWAY.admission_control.rq_rejected) add up the levels of one gateway",
    ),
    ("circuit_breaker", "success_rate_threshold"): FieldMeaning(
        "route.admission_control.sr_threshold",
        "a success is a response under 500 (gRPC: not an error status); Envoy rejects nothing "
        "while the success rate is at or above it",
    ),
    ("circuit_breaker", "window"): FieldMeaning(
        "route.admission_control.sampling_window", "Envoy default 30s: the history the rate is over"
    ),
    ("circuit_breaker", "minimum_request_rate"): FieldMeaning(
        "route.admission_control.rps_threshold",
        "requests per second over the window, per proxy, under which nothing is rejected",
    ),
    ("circuit_breaker", "max_rejection_percent"): FieldMeaning(
        "route.admission_control.max_rejection_probability",
        "Envoy default 80 %: however low the rate, 100 minus this share of requests still "
        "reaches the service",
    ),
}
"""What `breakwater explain` says about the fields translated here."""

_SUCCESS = admission_control_pb2.AdmissionControl.SuccessCriteria(
    http_criteria=admission_control_pb2.AdmissionControl.SuccessCriteria.HttpCriteria(
        http_success_status=[range_pb2.Int32Range(start=100, end=500)]
    )
)


def _percent(value: float, key: str) -> base_pb2.RuntimePercent:
    # Envoy requires a runtime key beside each value; nothing sets it, so the value holds.
    return base_pb2.RuntimePercent(
        default_value=percent_pb2.Percent(value=value), runtime_key=f"{_RUNTIME}.{key}"
    )


def admission_control(breaker: CircuitBreaker) -> admission_control_pb2.AdmissionControl:
    """The filter's configuration for a service-wide breaker (`ir.gateways.service_wide`)."""
    config = admission_control_pb2.AdmissionControl(
        enabled=base_pb2.RuntimeFeatureFlag(
            default_value=wrappers_pb2.BoolValue(value=True), runtime_key=f"{_RUNTIME}.enabled"
        ),
        success_criteria=_SUCCESS,
        sr_threshold=_percent(breaker.success_rate_threshold or 0.0, "sr_threshold"),
    )
    if breaker.window is not None:
        set_duration(config.sampling_window, breaker.window)
    if breaker.minimum_request_rate is not None:
        config.rps_threshold.CopyFrom(
            base_pb2.RuntimeUInt32(
                default_value=breaker.minimum_request_rate, runtime_key=f"{_RUNTIME}.rps_threshold"
            )
        )
    if breaker.max_rejection_percent is not None:
        config.max_rejection_probability.CopyFrom(
            _percent(breaker.max_rejection_percent, "max_rejection_probability")
        )
    return config


def admission_filter(level: AdmissionFilter) -> hcm_pb2.HttpFilter:
    """One level's filter in the gateway's connection manager, on: Envoy cannot turn on per
    route a filter that is off by default unless the filter takes a per-route configuration,
    which admission control does not; so routes turn off those that are not theirs."""
    return hcm_pb2.HttpFilter(
        name=filter_name(level.level), typed_config=pack_any(admission_control(level.breaker))
    )


def filter_name(level: str) -> str:
    """The filter of a policy level: a service, `service|subset`, or `fleet`."""
    return f"{ADMISSION_CONTROL}.{level}"


def route_filter_configs(own: str | None, gateway_levels: Iterable[str]) -> dict[str, any_pb2.Any]:
    """The `typed_per_filter_config` of a rule's Envoy routes: every admission control filter
    of the gateway off, except the one of `own`, the rule's level."""
    off = pack_any(route_components_pb2.FilterConfig(disabled=True))
    return {filter_name(level): off for level in gateway_levels if level != own}
