"""What the proxies' adaptive concurrency filters say, per gateway: limit now, requests blocked.

Envoy's adaptive concurrency filter (`bulkhead.adaptive`) keeps its stats
under the connection manager's prefix, which is the gateway's name
(`http.<gateway>.adaptive_concurrency.gradient_controller.*`); the stats
sink sends them tag-extracted, the gateway in `envoy.http_conn_manager_prefix`.
Every filter of one gateway shares those stats (Envoy names them by prefix,
not by filter), so a gateway is the finest grain Envoy gives. Kept: the
requests the filters answered 503 for being over the limit (`rq_blocked`, a
delta, summed over proxies) and each proxy's `concurrency_limit` now.
Nothing here does I/O, and a report is checked as `reports.from_otlp` checks
it: a number no Envoy could send raises `ReportError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from breakwater.controlplane.fleet.reports import ReportError, count_of
from breakwater.controlplane.limits import MAX_GATEWAYS_PER_REPORT

GRADIENT = "http.adaptive_concurrency.gradient_controller."
BLOCKED = GRADIENT + "rq_blocked"
LIMIT = GRADIENT + "concurrency_limit"
PREFIX_ATTRIBUTE = "envoy.http_conn_manager_prefix"


@dataclass
class GatewayReport:
    """One proxy's adaptive concurrency numbers for one gateway from one flush."""

    blocked: int = 0
    """Requests answered 503 over the limit in this flush (a delta)."""
    limit: int | None = None
    """The concurrency limit now (None: not in this flush)."""


def gateways_from_otlp(request: Any) -> dict[str, GatewayReport]:
    """The adaptive concurrency numbers in one `ExportMetricsServiceRequest`, by gateway."""
    reports: dict[str, GatewayReport] = {}

    def report_of(point: Any) -> GatewayReport:
        gateway = ""
        for kv in point.attributes:
            if kv.key == PREFIX_ATTRIBUTE:
                gateway = kv.value.string_value
        if gateway not in reports and len(reports) >= MAX_GATEWAYS_PER_REPORT:
            raise ReportError(
                f"the report names more than {MAX_GATEWAYS_PER_REPORT} connection managers with "
                "adaptive concurrency; report fewer per request."
            )
        return reports.setdefault(gateway, GatewayReport())

    for resource_metrics in request.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                if kind == "sum" and metric.name == BLOCKED:
                    for point in metric.sum.data_points:
                        report = report_of(point)
                        report.blocked += count_of(point, f"{BLOCKED} of a gateway")
                elif kind == "gauge" and metric.name == LIMIT:
                    for point in metric.gauge.data_points:
                        report_of(point).limit = count_of(point, f"{LIMIT} of a gateway")
    return reports
