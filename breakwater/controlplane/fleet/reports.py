"""What one proxy said about its clusters in one flush, read out of Envoy's own messages.

Envoy reports in two ways, and both arrive here as the same record:

* its OpenTelemetry stats sink (`envoy.stat_sinks.open_telemetry`), every
  `stats_flush_interval`: cluster counters as deltas since the last flush
  (the bootstrap sets `report_counters_as_deltas`, so a proxy that restarts
  never makes a total go backwards), gauges as they are now, and the
  `upstream_rq_time` histogram as the delta of its buckets;
* load reports (LRS, `envoy.service.load_stats.v3`): per cluster and per
  endpoint, the requests that succeeded, failed and are in flight in the
  last interval.

Only clusters Breakwater generated are kept (a service or a subset); the
`xds_cluster` and anything an operator added by hand are not ours to count.
Nothing here does I/O: the receivers hand decoded messages in.

A report is checked whole before any of it is returned: a negative or
non-finite number, a code class Envoy does not have, a histogram whose
buckets do not fit its bounds or whose sum cannot be, too many endpoints.
Any of these raises `ReportError` with a sentence for the sender, and since
nothing was handed on, nothing of that report counts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from breakwater.controlplane.limits import (
    MAX_ENDPOINTS_PER_REPORT,
    MAX_REPORTED_VALUE,
    RESPONSE_CODE_CLASSES,
)
from breakwater.translators.names import FAILOVER_SUFFIX, NAMESPACE_SEPARATOR, parse_cluster_name


class ReportError(ValueError):
    """A report no Envoy would send; the message is the sentence the sender gets back."""


SUM_SLACK = 1.1
"""Envoy's histogram sum and buckets both come from its approximate histogram: the sum may
exceed what the buckets' upper bounds allow by this factor before it is impossible."""

DETECTORS: tuple[str, ...] = (
    "consecutive_5xx",
    "consecutive_gateway_failure",
    "consecutive_local_origin_failure",
    "success_rate",
    "local_origin_success_rate",
    "failure_percentage",
    "local_origin_failure_percentage",
)
"""Envoy's outlier detectors, as its `ejections_enforced_<detector>` counters name them. Only
enforced ejections count: a detector Envoy runs with its enforcement at 0 (gateway failures,
by default) detects without ejecting anything, and saying it opened a breaker would be false."""

EJECTIONS_BY = "ejections:"
"""Prefix of the fleet counters of ejections by detector (`ejections:consecutive_5xx`)."""

COUNTERS: Mapping[str, str] = {
    "cluster.upstream_rq_retry": "retries",
    "cluster.upstream_rq_active_overflow": "bulkhead_rejections",
    "cluster.upstream_rq_pending_overflow": "bulkhead_rejections",
    "cluster.upstream_rq_timeout": "timeouts",
    "cluster.upstream_rq_per_try_timeout": "per_try_timeouts",
    "cluster.outlier_detection.ejections_enforced_total": "ejections",
    "cluster.ratelimit.ok": "ratelimit_ok",
    "cluster.ratelimit.over_limit": "ratelimit_over_limit",
    "cluster.ratelimit.error": "ratelimit_errors",
    "cluster.ratelimit.failure_mode_allowed": "ratelimit_failure_mode_allowed",
    **{
        f"cluster.outlier_detection.ejections_enforced_{detector}": f"{EJECTIONS_BY}{detector}"
        for detector in DETECTORS
    },
}
"""Envoy counter (tag-extracted name) → the fleet counter it adds to. Two Envoy
counters make up bulkhead rejections: over `max_requests` (active) and over
`max_pending_requests` (pending). Envoy's ratelimit filter (`rateLimit.global`) counts its
answers under the route's cluster: within the limit, over it, and the rate-limit service
failing (`error`), of which `failure_mode_allowed` were let through (`failureMode: open`)."""

GAUGES: Mapping[str, str] = {
    "cluster.membership_total": "hosts",
    "cluster.membership_healthy": "hosts_healthy",
    "cluster.outlier_detection.ejections_active": "hosts_ejected",
    "cluster.upstream_rq_active": "requests_active",
    "cluster.upstream_rq_pending_active": "requests_pending",
}

RESPONSE_CLASSES = ("cluster.upstream_rq_xx", "cluster.retry.upstream_rq_xx")
"""Responses by class: final ones, and those of attempts that were retried. Together
they are every response an upstream gave, which is what the upstream itself counts."""

ROUTED = frozenset(
    {
        "retries",
        "timeouts",
        "per_try_timeouts",
        "ratelimit_ok",
        "ratelimit_over_limit",
        "ratelimit_errors",
        "ratelimit_failure_mode_allowed",
    }
)
"""Counters Envoy's router charges to the cluster a route names. When that is a failover
(aggregate) cluster, they describe its primary: they are added to the primary's report.
Responses and latency are charged the same way. Host gauges, pool overflows and ejections
belong to the real cluster and are read from it alone."""

LATENCY_HISTOGRAM = "cluster.upstream_rq_time"
CLUSTER_ATTRIBUTE = "envoy.cluster_name"
CODE_CLASS_ATTRIBUTE = "envoy.response_code_class"


@dataclass(frozen=True)
class Histogram:
    """Bucket counts over explicit upper bounds in milliseconds; the last bucket is +Inf."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, other: Histogram) -> Histogram:
        """The sum of two histograms; bounds that differ are merged onto this one's."""
        if other.bounds == self.bounds:
            counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        else:
            merged = list(self.counts)
            for upper, count in zip((*other.bounds, float("inf")), other.counts, strict=True):
                merged[_bucket_of(self.bounds, upper)] += count
            counts = tuple(merged)
        return Histogram(self.bounds, counts, self.total + other.total)

    def quantile(self, q: float) -> float | None:
        """The q-quantile in milliseconds, interpolated inside its bucket; None if empty.

        A quantile that falls in the +Inf bucket is reported as the last finite bound,
        the most that can be said of it.
        """
        total = self.count
        if total == 0:
            return None
        rank = q * total
        seen = 0
        lower = 0.0
        for upper, count in zip(self.bounds, self.counts, strict=False):
            if count and seen + count >= rank:
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
            lower = upper
        return self.bounds[-1] if self.bounds else None


def _bucket_of(bounds: tuple[float, ...], value: float) -> int:
    for index, upper in enumerate(bounds):
        if value <= upper:
            return index
    return len(bounds)


@dataclass
class EndpointLoad:
    """One endpoint's requests in one load-report interval, as LRS counts them."""

    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    issued: int = 0


@dataclass
class ClusterReport:
    """One proxy's numbers for one cluster from one flush. Counters are deltas."""

    counters: dict[str, int] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)
    """Code class (`2xx` … `5xx`) → responses in this flush."""
    gauges: dict[str, int] = field(default_factory=dict)
    latency: Histogram | None = None
    endpoints: dict[str, EndpointLoad] = field(default_factory=dict)
    """`address:port` → load, from LRS."""

    def merge(self, other: ClusterReport) -> None:
        for name, value in other.counters.items():
            self.counters[name] = self.counters.get(name, 0) + value
        for name, value in other.responses.items():
            self.responses[name] = self.responses.get(name, 0) + value
        self.gauges.update(other.gauges)
        if other.latency is not None:
            self.latency = (
                other.latency if self.latency is None else self.latency.add(other.latency)
            )
        for address, load in other.endpoints.items():
            mine = self.endpoints.setdefault(address, EndpointLoad())
            mine.succeeded += load.succeeded
            mine.failed += load.failed
            mine.issued += load.issued
            mine.in_flight = load.in_flight


def is_breakwater_cluster(name: str) -> bool:
    """A cluster Breakwater generated for a service or a subset (aggregate ones aside)."""
    if name.endswith(FAILOVER_SUFFIX) or not name:
        return False
    ref = parse_cluster_name(name)
    namespace, dot, service = ref.service.rpartition(NAMESPACE_SEPARATOR)
    return bool(service) and all(
        _name(part) for part in ((namespace, service) if dot else (service,))
    )


def _name(part: str) -> bool:
    return bool(part) and all(c.islower() or c.isdigit() or c == "-" for c in part)


def _attributes(point: Any) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}


def _count(value: float, what: str) -> int:
    """A reported number as a count, refused when no proxy could have sent it."""
    if not math.isfinite(value) or value < 0 or value > MAX_REPORTED_VALUE:
        raise ReportError(
            f"{what} is {value!r}; a count is a whole number from 0 to {MAX_REPORTED_VALUE}. "
            "Send the report as Envoy's stats sink does, with report_counters_as_deltas."
        )
    return int(value)


def count_of(point: Any, what: str) -> int:
    if point.WhichOneof("value") == "as_double":
        return _count(point.as_double, what)
    return _count(point.as_int, what)


def _histogram(point: Any, what: str) -> Histogram:
    """A histogram data point as a `Histogram`, refused when it cannot describe real requests."""
    bounds = tuple(point.explicit_bounds)
    counts = tuple(_count(c, f"a bucket of {what}") for c in point.bucket_counts)
    if len(counts) != len(bounds) + 1:
        raise ReportError(
            f"{what} has {len(counts)} bucket counts for {len(bounds)} bounds; a histogram "
            "has one count per bound and one for +Inf."
        )
    if any(not math.isfinite(b) for b in bounds) or any(
        a >= b for a, b in itertools.pairwise(bounds)
    ):
        raise ReportError(f"{what} has bounds that are not finite and increasing: {bounds!r}.")
    total = sum(counts)
    if point.count != total:
        raise ReportError(
            f"{what} says {point.count} requests but its buckets hold {total}; send both from "
            "the same histogram."
        )
    most = sum(c * upper for c, upper in zip(counts, bounds, strict=False)) * SUM_SLACK
    if not math.isfinite(point.sum) or point.sum < 0 or (counts[-1] == 0 and point.sum > most):
        raise ReportError(
            f"{what} has a sum of {point.sum!r} ms, which {total} requests in its buckets "
            "cannot add up to."
        )
    return Histogram(bounds, counts, point.sum)


def from_otlp(request: Any, *, known: frozenset[str] | None = None) -> dict[str, ClusterReport]:
    """The cluster reports in one OTLP `ExportMetricsServiceRequest` from Envoy's stats sink.

    `known`, when given, limits the result to those cluster names (the clusters the
    control plane serves), so a proxy cannot make the aggregate grow without bound.
    """
    reports: dict[str, ClusterReport] = {}

    def report_of(point: Any, routed: bool) -> tuple[ClusterReport | None, dict[str, str]]:
        attributes = _attributes(point)
        cluster = attributes.get(CLUSTER_ATTRIBUTE, "")
        if known is not None and cluster not in known:
            return None, attributes
        if routed and cluster.endswith(FAILOVER_SUFFIX):
            cluster = cluster[: -len(FAILOVER_SUFFIX)]
        if not is_breakwater_cluster(cluster):
            return None, attributes
        return reports.setdefault(cluster, ClusterReport()), attributes

    for resource_metrics in request.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                _read_metric(metric, report_of)
    return reports


def _read_metric(metric: Any, report_of: Any) -> None:
    """Add one metric's points to their reports; every point is checked, ours or not."""
    name = metric.name
    kind = metric.WhichOneof("data")
    if kind == "sum" and (name in COUNTERS or name in RESPONSE_CLASSES):
        routed = name in RESPONSE_CLASSES or COUNTERS.get(name) in ROUTED
        for point in metric.sum.data_points:
            report, attributes = report_of(point, routed)
            what = f"{name} of cluster {attributes.get(CLUSTER_ATTRIBUTE, '')!r}"
            value = count_of(point, what)
            if name in COUNTERS:
                if report is not None:
                    key = COUNTERS[name]
                    report.counters[key] = report.counters.get(key, 0) + value
                continue
            digit = attributes.get(CODE_CLASS_ATTRIBUTE, "")
            if digit not in RESPONSE_CODE_CLASSES:
                raise ReportError(
                    f"{what} has the response code class {digit[:20]!r}; Envoy's classes are "
                    "1 to 5."
                )
            if report is not None:
                code_class = f"{digit}xx"
                report.responses[code_class] = report.responses.get(code_class, 0) + value
    elif kind == "gauge" and name in GAUGES:
        for point in metric.gauge.data_points:
            report, attributes = report_of(point, False)
            value = count_of(point, f"{name} of cluster {attributes.get(CLUSTER_ATTRIBUTE, '')!r}")
            if report is not None:
                report.gauges[GAUGES[name]] = value
    elif kind == "histogram" and name == LATENCY_HISTOGRAM:
        for point in metric.histogram.data_points:
            report, attributes = report_of(point, True)
            if not point.bucket_counts and not point.explicit_bounds and not point.count:
                continue
            what = f"{name} of cluster {attributes.get(CLUSTER_ATTRIBUTE, '')!r}"
            histogram = _histogram(point, what)
            if report is None:
                continue
            report.latency = histogram if report.latency is None else report.latency.add(histogram)


def from_lrs(
    cluster_stats: Iterable[Any], *, known: frozenset[str] | None = None, calls: bool = False
) -> dict[str, ClusterReport]:
    """The cluster reports in one LRS `LoadStatsRequest`'s `cluster_stats`.

    `calls`: the reporter is a proxyless gRPC client, whose load reports are its only
    numbers (it has no stats sink) and count per locality: each locality's successful calls
    count as `2xx` responses and its failed calls (any status but OK) as `5xx`, so a
    cluster's error rate, and a Rollout judging it, include those clients' calls. Envoy's
    responses come from its stats, so its reports never count here.
    """
    reports: dict[str, ClusterReport] = {}
    endpoints = 0
    for stats in cluster_stats:
        cluster = stats.cluster_name
        interval = stats.load_report_interval
        if interval.seconds < 0 or interval.nanos < 0:
            raise ReportError(
                f"the load report of cluster {cluster!r} covers a negative interval; an "
                "interval is the time since the last report."
            )
        endpoints += sum(len(loc.upstream_endpoint_stats) for loc in stats.upstream_locality_stats)
        if endpoints > MAX_ENDPOINTS_PER_REPORT:
            raise ReportError(
                f"the load report lists more than {MAX_ENDPOINTS_PER_REPORT} endpoints; report "
                "fewer per request."
            )
        ours = (known is None or cluster in known) and is_breakwater_cluster(cluster)
        report = reports.setdefault(cluster, ClusterReport()) if ours else ClusterReport()
        for locality in stats.upstream_locality_stats:
            if calls:
                what = f"the calls of cluster {cluster!r}"
                for code, counted in (
                    ("2xx", locality.total_successful_requests),
                    ("5xx", locality.total_error_requests),
                ):
                    if counted:
                        report.responses[code] = report.responses.get(code, 0) + _count(
                            counted, what
                        )
            for endpoint in locality.upstream_endpoint_stats:
                socket = endpoint.address.socket_address
                address = f"{socket.address}:{socket.port_value}"
                what = f"the requests of endpoint {address} of cluster {cluster!r}"
                load = report.endpoints.setdefault(address, EndpointLoad())
                load.succeeded += _count(endpoint.total_successful_requests, what)
                load.failed += _count(endpoint.total_error_requests, what)
                load.issued += _count(endpoint.total_issued_requests, what)
                load.in_flight = _count(endpoint.total_requests_in_progress, what)
    return reports
