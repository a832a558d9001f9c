"""The fleet's numbers as Prometheus metrics, labelled by service, subset and policy.

Never one series per proxy: at 10 000 proxies that would be millions of
series. Everything is read from `FleetStats` at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from breakwater.controlplane.fleet.aggregate import FleetStats
from breakwater.controlplane.fleet.status import policy_statuses
from breakwater.controlplane.fleet.views import POLICY_PROXY_STATES
from breakwater.controlplane.xds.status import StreamStatus
from breakwater.translators.names import parse_cluster_name
from breakwater.translators.policyset import PolicySet

COUNTER_METRICS = {
    "ejections": ("breakwater_ejections", "Hosts ejected by outlier detection (the breaker opened), summed over proxies."),
    "retries": ("breakwater_retries", "Retries the proxies made."),
    "bulkhead_rejections": ("breakwater_bulkhead_rejections", "Requests refused at once by a bulkhead (over max requests or max pending)."),
    "timeouts": ("breakwater_timeouts", "Requests that hit their route timeout."),
    "ratelimit_ok": ("breakwater_global_rate_limit_ok", "Requests the rate-limit service allowed (rateLimit.global), summed over proxies."),
    "ratelimit_over_limit": ("breakwater_global_rate_limit_over_limit", "Requests over a global rate limit: answered 429 by the proxies."),
    "ratelimit_errors": ("breakwater_global_rate_limit_errors", "Calls to the rate-limit service that failed (down, timed out, an error); failureMode decides what the request got."),
    "ratelimit_failure_mode_allowed": ("breakwater_global_rate_limit_failure_mode_allowed", "Requests let through because the rate-limit service failed and failureMode is open."),
}  # fmt: skip

GAUGE_METRICS = {
    "hosts": ("breakwater_hosts", "Hosts of the cluster (the largest view of any live proxy)."),
    "healthy": ("breakwater_hosts_healthy", "Healthy hosts (the fewest any live proxy sees)."),
    "ejected": ("breakwater_hosts_ejected", "Hosts ejected now: the breaker is open on them (the most any live proxy ejected)."),
}  # fmt: skip


class FleetCollector(Collector):
    def __init__(
        self,
        fleet: FleetStats,
        policyset: Callable[[], PolicySet | None],
        streams: Callable[[], Sequence[StreamStatus]],
        resources_of: Callable[[Hashable], tuple[frozenset[str], frozenset[str]]],
    ) -> None:
        self._fleet = fleet
        self._policyset = policyset
        self._streams = streams
        self._resources_of = resources_of

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        labels = ["service", "subset"]
        requests = CounterMetricFamily(
            "breakwater_upstream_requests",
            "Responses the upstreams gave (every attempt, retried ones included), by class.",
            labels=[*labels, "code_class"],
        )
        latency = HistogramMetricFamily(
            "breakwater_upstream_request_duration_seconds",
            "Upstream request time as the proxies measured it.",
            labels=labels,
        )
        counters = {
            key: CounterMetricFamily(name, text, labels=labels)
            for key, (name, text) in COUNTER_METRICS.items()
        }
        for cluster, totals in sorted(self._fleet.totals().items()):
            ref = parse_cluster_name(cluster)
            values = [ref.service, ref.subset or ""]
            for code_class, count in sorted(totals.responses.items()):
                requests.add_metric([*values, code_class], count)
            for key, family in counters.items():
                family.add_metric(values, totals.counters.get(key, 0))
            histogram = totals.latency
            if histogram.count:
                buckets = []
                cumulative = 0
                for upper, count in zip(histogram.bounds, histogram.counts, strict=False):
                    cumulative += count
                    buckets.append((_seconds(upper), cumulative))
                buckets.append(("+Inf", histogram.count))
                latency.add_metric(values, buckets, histogram.total / 1000.0)
        yield requests
        yield latency
        yield from counters.values()

        gauges = {
            key: GaugeMetricFamily(name, text, labels=labels)
            for key, (name, text) in GAUGE_METRICS.items()
        }
        for cluster in sorted(self._fleet.clusters_with_hosts(now)):
            view = self._fleet.hosts(cluster, now)
            if view is None:
                continue
            ref = parse_cluster_name(cluster)
            values = [ref.service, ref.subset or ""]
            gauges["hosts"].add_metric(values, view.hosts)
            gauges["healthy"].add_metric(values, view.healthy)
            gauges["ejected"].add_metric(values, view.ejected)
        yield from gauges.values()

        policies = GaugeMetricFamily(
            "breakwater_policy_proxies",
            "Proxies in each ResiliencePolicy's scope, by whether they hold its current version.",
            labels=["policy", "state"],
        )
        policyset = self._policyset()
        if policyset is not None:
            streams = self._streams()
            for status in policy_statuses(
                policyset, streams, self._resources_of, self._fleet, now, with_effect=False
            ):
                for state in POLICY_PROXY_STATES:
                    policies.add_metric([status.name, state], status.proxies[state])
        yield policies
        yield from self._adaptive(policyset, now)
        yield CounterMetricFamily(
            "breakwater_fleet_reports",
            "Stats flushes and load reports received from proxies.",
            value=self._fleet.reports_received,
        )

    def _adaptive(self, policyset: PolicySet | None, now: float) -> Iterator[Metric]:
        """Adaptive concurrency by gateway (Envoy keeps its stats per connection manager),
        for the gateways the policies declare."""
        gateways = set(policyset.gateways) if policyset is not None else set()
        blocked = CounterMetricFamily(
            "breakwater_adaptive_concurrency_blocked",
            "Requests the adaptive concurrency filters answered 503 for being over their limit "
            "(bulkhead.adaptive), summed over proxies.",
            labels=["gateway"],
        )
        for gateway, count in sorted(self._fleet.adaptive_blocked.items()):
            if gateway in gateways:
                blocked.add_metric([gateway], count)
        yield blocked
        limit = GaugeMetricFamily(
            "breakwater_adaptive_concurrency_limit",
            "The smallest adaptive concurrency limit (requests in flight) any live proxy holds "
            "now for the gateway: the proxy that sheds first.",
            labels=["gateway"],
        )
        for gateway, value in sorted(self._fleet.concurrency_limits(now).items()):
            if gateway in gateways:
                limit.add_metric([gateway], value)
        yield limit


def _seconds(milliseconds: float) -> str:
    return repr(milliseconds / 1000.0)
