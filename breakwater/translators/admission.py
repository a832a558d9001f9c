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

from breakwater.translators.clusters import pack_any
from breakwater.translators.meanings import FieldMeaning, Meanings
from breakwater.translators.model import CircuitBreaker
from breakwater.translators.names import cluster_name
from breakwater.translators.policyset import PolicySet

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


def admission_control(
    breaker: CircuitBreaker | None,
) -> admission_control_pb2.AdmissionControl | None:
    """The filter's configuration for a service-wide breaker; None for any other breaker."""
    if breaker is None or breaker.scope != "service" or breaker.success_rate_threshold is None:
        return None
    config = admission_control_pb2.AdmissionControl(
        enabled=base_pb2.RuntimeFeatureFlag(
            default_value=wrappers_pb2.BoolValue(value=True), runtime_key=f"{_RUNTIME}.enabled"
        ),
        success_criteria=_SUCCESS,
        sr_threshold=_percent(breaker.success_rate_threshold, "sr_threshold"),
    )
    if breaker.window is not None:
        config.sampling_window.FromTimedelta(breaker.window)
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


def _level(policyset: PolicySet, route: str, rule_index: int) -> str:
    """The policy level of a rule, as `PolicySet.effective_for_rule` chooses it."""
    backends = policyset.routes[route].spec.rules[rule_index].backends
    services = {b.service for b in backends}
    targets = {(b.service, b.subset) for b in backends}
    if len(services) != 1:
        return "fleet"
    service, subset = next(iter(targets)) if len(targets) == 1 else (next(iter(services)), None)
    return cluster_name(service, subset)


def rule_admission(
    policyset: PolicySet, route: str, rule_index: int
) -> tuple[str, admission_control_pb2.AdmissionControl] | None:
    """The filter name and configuration a rule turns on, if its policy is service-wide."""
    config = admission_control(policyset.effective_for_rule(route, rule_index).spec.circuit_breaker)
    if config is None:
        return None
    return f"{ADMISSION_CONTROL}.{_level(policyset, route, rule_index)}", config


def route_filter_configs(
    policyset: PolicySet, route: str, rule_index: int, gateway_filters: Iterable[str]
) -> dict[str, any_pb2.Any]:
    """The `typed_per_filter_config` of the rule's Envoy routes: every admission control filter
    of the gateway off, except the one of the rule's level."""
    found = rule_admission(policyset, route, rule_index)
    own = None if found is None else found[0]
    off = pack_any(route_components_pb2.FilterConfig(disabled=True))
    return {name: off for name in gateway_filters if name != own}


def gateway_filter_names(policyset: PolicySet, routes: Iterable[str]) -> list[str]:
    return [f.name for f in gateway_filters(policyset, routes)]


def gateway_filters(policyset: PolicySet, routes: Iterable[str]) -> list[hcm_pb2.HttpFilter]:
    """One admission control filter per level the routes use; each route turns off the others.

    Envoy cannot turn on per route a filter that is off by default unless the filter takes a
    per-route configuration, which admission control does not: so every filter is on in the
    connection manager, and routes turn off those that are not theirs."""
    filters: dict[str, admission_control_pb2.AdmissionControl] = {}
    for route in routes:
        for index in range(len(policyset.routes[route].spec.rules)):
            found = rule_admission(policyset, route, index)
            if found is not None:
                filters[found[0]] = found[1]
    return [
        hcm_pb2.HttpFilter(name=name, typed_config=pack_any(filters[name]))
        for name in sorted(filters)
    ]
