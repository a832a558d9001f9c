"""The fleet's numbers, summed over proxies and never kept per proxy longer than needed.

Three kinds of number, three ways of adding them up:

* **Totals** (requests by class, retries, ejections, bulkhead rejections,
  timeouts, the latency histogram) only ever grow: every flush adds the
  deltas Envoy sent. A proxy that restarts starts sending small deltas again;
  a proxy that goes away stops adding. Nothing is subtracted, so a counter
  exported to Prometheus never goes backwards.
* **Gauges** (hosts, healthy hosts, hosts ejected, requests active and
  pending) are what each live proxy said last. A proxy that disconnects, or
  has not reported for `stale_after` seconds, stops counting. Each proxy has
  its own view of its upstreams (outlier detection is per proxy), so the
  fleet value is the worst view: the most hosts any proxy ejected, the fewest
  any proxy finds healthy.
* **Recent windows** (rates, 5xx share, latency percentiles, per-endpoint
  load) come from a bounded ring of each proxy's last reports: at most
  `window` seconds of them.

A proxy's entry expires once its last report is older than both `window`
and `stale_after`, when it adds to nothing any more: reports come from
whoever reaches the port (an OTLP call needs no xDS stream), so waiting
for a stream to end would keep the entries of senders that never had one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from breakwater.controlplane.fleet.causes import ProxyWindow, of_proxies
from breakwater.controlplane.fleet.contract import DEFAULT_WINDOW_SECONDS, LATENCY_BUCKETS_MS
from breakwater.controlplane.fleet.listeners import GatewayReport
from breakwater.controlplane.fleet.reports import ClusterReport, Histogram
from breakwater.controlplane.fleet.views import EjectionCauses
from breakwater.controlplane.limits import FLEET_EXPIRY_SWEEP_SECONDS


@dataclass
class ClusterTotals:
    """Everything the fleet ever reported for one cluster, as monotonic sums."""

    counters: dict[str, int] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)
    latency: Histogram = field(
        default_factory=lambda: Histogram(LATENCY_BUCKETS_MS, (0,) * (len(LATENCY_BUCKETS_MS) + 1))
    )

    def add(self, report: ClusterReport) -> None:
        for name, value in report.counters.items():
            if value > 0:
                self.counters[name] = self.counters.get(name, 0) + value
        for name, value in report.responses.items():
            if value > 0:
                self.responses[name] = self.responses.get(name, 0) + value
        if report.latency is not None:
            self.latency = self.latency.add(report.latency)


@dataclass(frozen=True)
class HostView:
    """The hosts of one cluster as the live proxies see them."""

    hosts: int
    healthy: int
    ejected: int
    proxies: int
    """Live proxies that reported this cluster."""
    proxies_ejecting: int
    """Of those, how many have at least one host ejected now."""
    requests_active: int
    requests_pending: int
    busiest_active: int
    """The most requests active on one proxy: the figure a per-proxy bulkhead limit meets."""


@dataclass
class _Proxy:
    last_seen: float
    gauges: dict[str, dict[str, int]] = field(default_factory=dict)
    recent: deque[tuple[float, Mapping[str, ClusterReport]]] = field(default_factory=deque)
    concurrency_limits: dict[str, int] = field(default_factory=dict)
    """Gateway → its adaptive concurrency limit as this proxy last reported it."""


class FleetStats:
    """Reports in, fleet views out. Used from one thread (the control plane's event loop)."""

    def __init__(
        self, *, window: float = DEFAULT_WINDOW_SECONDS, stale_after: float = 15.0
    ) -> None:
        self.window = window
        self.stale_after = stale_after
        self._proxies: dict[str, _Proxy] = {}
        self._totals: dict[str, ClusterTotals] = {}
        self.adaptive_blocked: dict[str, int] = {}
        """Gateway → requests its adaptive concurrency filters blocked, over every proxy."""
        self.reports_received = 0
        self._swept_at = float("-inf")

    # -- in -----------------------------------------------------------------

    def ingest(self, node_id: str, now: float, reports: Mapping[str, ClusterReport]) -> None:
        """Add one flush of one proxy."""
        self.reports_received += 1
        self.expire(now)
        proxy = self._proxies.get(node_id)
        if proxy is None:
            proxy = self._proxies[node_id] = _Proxy(last_seen=now)
        proxy.last_seen = now
        for cluster, report in reports.items():
            self._totals.setdefault(cluster, ClusterTotals()).add(report)
            if report.gauges:
                proxy.gauges.setdefault(cluster, {}).update(report.gauges)
        proxy.recent.append((now, reports))
        self._trim(proxy, now)

    def ingest_gateways(
        self, node_id: str, now: float, reports: Mapping[str, GatewayReport]
    ) -> None:
        """Add one flush's adaptive concurrency numbers of one proxy (after `ingest`)."""
        proxy = self._proxies.get(node_id)
        if proxy is None:
            proxy = self._proxies[node_id] = _Proxy(last_seen=now)
        for gateway, report in reports.items():
            if report.blocked > 0:
                self.adaptive_blocked[gateway] = (
                    self.adaptive_blocked.get(gateway, 0) + report.blocked
                )
            if report.limit is not None:
                proxy.concurrency_limits[gateway] = report.limit

    def concurrency_limits(self, now: float) -> dict[str, int]:
        """Gateway → the smallest adaptive concurrency limit a live proxy holds now: the
        proxy that sheds first."""
        smallest: dict[str, int] = {}
        for proxy in self._proxies.values():
            if self._live(proxy, now):
                for gateway, limit in proxy.concurrency_limits.items():
                    smallest[gateway] = min(limit, smallest.get(gateway, limit))
        return smallest

    def forget(self, node_id: str) -> None:
        """The proxy is gone: its gauges and recent reports stop counting; totals stay."""
        self._proxies.pop(node_id, None)

    def expire(self, now: float) -> None:
        """Forget the proxies whose last report counts nowhere any more. Looks at most once
        per `FLEET_EXPIRY_SWEEP_SECONDS`, so a flush does not cost a walk over every proxy."""
        if now - self._swept_at < FLEET_EXPIRY_SWEEP_SECONDS:
            return
        self._swept_at = now
        oldest = now - max(self.window, self.stale_after)
        for node in [n for n, proxy in self._proxies.items() if proxy.last_seen < oldest]:
            del self._proxies[node]

    def retain_clusters(self, clusters: frozenset[str]) -> None:
        """Drop what is known of clusters the control plane no longer serves."""
        for name in [c for c in self._totals if c not in clusters]:
            del self._totals[name]
        for proxy in self._proxies.values():
            for name in [c for c in proxy.gauges if c not in clusters]:
                del proxy.gauges[name]

    def _trim(self, proxy: _Proxy, now: float) -> None:
        while proxy.recent and proxy.recent[0][0] < now - self.window:
            proxy.recent.popleft()

    # -- out ----------------------------------------------------------------

    def totals(self) -> Mapping[str, ClusterTotals]:
        return self._totals

    def _live(self, proxy: _Proxy, now: float) -> bool:
        return now - proxy.last_seen <= self.stale_after

    def hosts(self, cluster: str, now: float) -> HostView | None:
        views = [
            proxy.gauges[cluster]
            for proxy in self._proxies.values()
            if cluster in proxy.gauges and self._live(proxy, now)
        ]
        if not views:
            return None
        return HostView(
            hosts=max(v.get("hosts", 0) for v in views),
            healthy=min(v.get("hosts_healthy", 0) for v in views),
            ejected=max(v.get("hosts_ejected", 0) for v in views),
            proxies=len(views),
            proxies_ejecting=sum(1 for v in views if v.get("hosts_ejected", 0) > 0),
            requests_active=sum(v.get("requests_active", 0) for v in views),
            requests_pending=sum(v.get("requests_pending", 0) for v in views),
            busiest_active=max(v.get("requests_active", 0) for v in views),
        )

    def clusters_with_hosts(self, now: float) -> set[str]:
        return {
            cluster
            for proxy in self._proxies.values()
            if self._live(proxy, now)
            for cluster in proxy.gauges
        }

    def recent(
        self, clusters: Iterable[str], now: float, seconds: float | None = None
    ) -> ClusterReport:
        """The sum of every proxy's reports for these clusters over the last `seconds`."""
        since = now - (self.window if seconds is None else min(seconds, self.window))
        wanted = set(clusters)
        summed = ClusterReport()
        for proxy in self._proxies.values():
            for at, reports in proxy.recent:
                if at < since:
                    continue
                for cluster, report in reports.items():
                    if cluster in wanted:
                        summed.merge(_without_gauges(report))
        return summed

    def causes(self, cluster: str, now: float, seconds: float | None = None) -> EjectionCauses:
        """Why this cluster's hosts were ejected, over the last `seconds`, proxy by proxy."""
        since = now - (self.window if seconds is None else min(seconds, self.window))
        return of_proxies(
            ProxyWindow(
                gauges=proxy.gauges.get(cluster, {}) if self._live(proxy, now) else {},
                reports=[
                    (at, r[cluster]) for at, r in proxy.recent if at >= since and cluster in r
                ],
            )
            for proxy in self._proxies.values()
        )

    def proxy_count(self) -> int:
        """Proxies whose entries are held (expired ones are forgotten as time passes)."""
        return len(self._proxies)


def _without_gauges(report: ClusterReport) -> ClusterReport:
    return ClusterReport(
        counters=report.counters,
        responses=report.responses,
        latency=report.latency,
        endpoints=report.endpoints,
    )


@dataclass(frozen=True)
class RecentSummary:
    """What a window of reports says, in the units an operator reads."""

    requests: int
    per_second: float
    errors_5xx: int
    error_percent: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    retries_per_second: float
    counters: Mapping[str, int]


def summarize(report: ClusterReport, seconds: float) -> RecentSummary:
    requests = sum(report.responses.values())
    errors = report.responses.get("5xx", 0)
    latency = report.latency
    span = max(seconds, 1e-9)
    return RecentSummary(
        requests=requests,
        per_second=requests / span,
        errors_5xx=errors,
        error_percent=(100.0 * errors / requests) if requests else None,
        p50_ms=latency.quantile(0.50) if latency else None,
        p95_ms=latency.quantile(0.95) if latency else None,
        p99_ms=latency.quantile(0.99) if latency else None,
        retries_per_second=report.counters.get("retries", 0) / span,
        counters=dict(report.counters),
    )
