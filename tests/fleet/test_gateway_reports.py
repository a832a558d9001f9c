"""Adaptive concurrency by gateway: blocked requests add up, the limit is the smallest a live
proxy holds, and a number no Envoy sends is refused."""

from __future__ import annotations

import pytest

from breakwater.controlplane.fleet.aggregate import FleetStats
from breakwater.controlplane.fleet.listeners import BLOCKED, LIMIT, gateways_from_otlp
from breakwater.controlplane.fleet.reports import ReportError
from breakwater.otlp.v1 import common_pb2, metrics_pb2


def _flush(gateway: str, blocked: float, limit: int) -> metrics_pb2.ExportMetricsServiceRequest:
    prefix = common_pb2.KeyValue(
        key="envoy.http_conn_manager_prefix", value=common_pb2.AnyValue(string_value=gateway)
    )
    counter = metrics_pb2.Metric(name=BLOCKED)
    counter.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    counter.sum.data_points.add(as_double=blocked).attributes.append(prefix)
    gauge = metrics_pb2.Metric(name=LIMIT)
    gauge.gauge.data_points.add(as_int=limit).attributes.append(prefix)
    request = metrics_pb2.ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.extend([counter, gauge])
    return request


def test_blocked_requests_add_up_and_the_limit_is_the_smallest_live_one() -> None:
    fleet = FleetStats(stale_after=15.0)
    fleet.ingest_gateways("a", 0.0, gateways_from_otlp(_flush("edge", 3, 40)))
    fleet.ingest("b", 0.0, {})
    fleet.ingest_gateways("b", 0.0, gateways_from_otlp(_flush("edge", 4, 12)))
    fleet.ingest_gateways("a", 1.0, gateways_from_otlp(_flush("edge", 2, 35)))
    assert fleet.adaptive_blocked == {"edge": 9}
    assert fleet.concurrency_limits(1.0) == {"edge": 12}
    fleet.forget("b")  # its stream ended: its limit no longer counts, its blocked requests do
    assert fleet.concurrency_limits(1.0) == {"edge": 35}
    assert fleet.adaptive_blocked == {"edge": 9}


def test_a_count_no_envoy_sends_is_refused() -> None:
    with pytest.raises(ReportError, match="whole number"):
        gateways_from_otlp(_flush("edge", -1, 5))
