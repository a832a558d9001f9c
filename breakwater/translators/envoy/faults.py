"""Fault → the per-route config of Envoy's fault filter (`envoy.filters.http.fault`).

The proxy itself delays or aborts the requests, before they reach any
backend, so a drill needs no cooperation from the service and touches only
the routes (and, with `headers`, only the requests) it names.
"""

from __future__ import annotations

from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2

from breakwater.translators.envoy.matchers import header_matcher
from breakwater.translators.envoy.percentages import fractional_percent
from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.traffic_model import Fault

EXPLAIN: Meanings = {
    ("fault", "delay", "duration"): FieldMeaning(
        "route.typed_per_filter_config[fault]: delay.fixed_delay",
        "the delay comes before the request is forwarded, so it does not count against "
        "timeout.request, which starts when the request leaves for the backend",
    ),
    ("fault", "delay", "percent"): FieldMeaning(
        "route.typed_per_filter_config[fault]: delay.percentage",
        "each request is drawn at random: over few requests the share can be far from the "
        "percentage; delays and aborts are drawn apart, so a request can get both",
    ),
    ("fault", "abort", "status"): FieldMeaning(
        "route.typed_per_filter_config[fault]: abort.http_status",
        "the proxy answers at once and the backend never sees the request; a fallback does "
        "not replace an injected abort, and retries do not retry it",
    ),
    ("fault", "abort", "percent"): FieldMeaning(
        "route.typed_per_filter_config[fault]: abort.percentage",
        "each request is drawn at random, in each proxy on its own",
    ),
    ("fault", "headers"): FieldMeaning(
        "route.typed_per_filter_config[fault]: headers",
        "only requests carrying every one of these headers are considered; the percentages "
        "then apply to those requests alone",
    ),
}
"""What `breakwater explain` says about the fields translated here."""


def http_fault(fault: Fault) -> fault_pb2.HTTPFault:
    """The fault filter's config for one route: what to inject, into which share of requests."""
    out = fault_pb2.HTTPFault()
    if fault.delay is not None:
        delay = common_fault_pb2.FaultDelay(percentage=fractional_percent(fault.delay.percent))
        set_duration(delay.fixed_delay, fault.delay.duration)
        out.delay.CopyFrom(delay)
    if fault.abort is not None:
        out.abort.CopyFrom(
            fault_pb2.FaultAbort(
                http_status=fault.abort.status,
                percentage=fractional_percent(fault.abort.percent),
            )
        )
    out.headers.extend(header_matcher(h) for h in fault.headers)
    return out
