"""What the bootstrap and the receivers agree on about a proxy's reports.

Kept apart from the receivers so that rendering a bootstrap (and every CLI
command) does not import gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass

NODE_HEADER = "x-breakwater-node"
"""The request header the bootstrap sets on the stats sink's calls: OTLP carries no node."""

DEFAULT_STATS_FLUSH_INTERVAL = "5s"
"""How often a proxy flushes its stats to the control plane unless told otherwise."""

LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 65, 80, 100, 125, 150, 175, 200, 250, 300,
    400, 500, 650, 800, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000,
    15000, 30000, 60000,
)  # fmt: skip
"""Bucket bounds of Envoy's `upstream_rq_time`, set by the bootstrap. Steps of at most
~1.5x keep an interpolated percentile within a fifth of the truth; Envoy's own default
(...100, 250, 500...) would put every request between 100 and 250 ms in one bucket."""

RATE_WINDOW_SECONDS = 30.0
"""Rates, shares, percentiles and ejection causes in status look this far back."""

DEFAULT_WINDOW_SECONDS = 60.0
"""How far back rates and percentiles look, and so how long a proxy's reports are kept."""


@dataclass(frozen=True)
class FleetOptions:
    load_report_interval: float = 5.0
    """The LRS interval the control plane asks proxies for, in seconds."""
    window: float = DEFAULT_WINDOW_SECONDS
    stale_after: float = 15.0
    """A proxy whose last report is older than this stops counting in gauges."""
