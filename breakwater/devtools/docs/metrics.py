"""The metrics reference: every family a control plane's registry exports, with its help text.

The registry is built the way `breakwater serve` builds it (a `ControlPlane`
on an empty policy directory, never started, with per-proxy metrics on so
that those appear too), so a metric added to any collector shows here
without being listed twice.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from breakwater.devtools.docs.markdown import code, page, table

_SUFFIX = {"counter": "_total", "info": "_info"}


def _label_names(registry: CollectorRegistry) -> dict[str, tuple[str, ...]]:
    """Label names of the registry's counters and histograms, which prometheus_client keeps
    only on the metric objects (a family without samples does not carry them)."""
    names: dict[str, tuple[str, ...]] = {}
    for collector in list(registry._collector_to_names):
        name = getattr(collector, "_name", None)
        labels = getattr(collector, "_labelnames", None)
        if isinstance(name, str) and labels is not None:
            names[name] = tuple(labels)
    return names


def collect() -> list[tuple[Metric, tuple[str, ...]]]:
    """Every metric family of a freshly built control plane, with its label names."""
    from breakwater.controlplane.app import ControlPlane, ServeConfig

    with tempfile.TemporaryDirectory() as scratch:
        policies, state = Path(scratch, "policies"), Path(scratch, "state")
        policies.mkdir()
        plane = ControlPlane(
            ServeConfig(policy_dir=policies, state_dir=state, per_proxy_metrics=True)
        )
        try:
            registry = plane.metrics.registry
            labels = _label_names(registry)
            found = []
            for metric in registry.collect():
                own = getattr(metric, "_labelnames", None)
                found.append(
                    (metric, tuple(own) if own is not None else labels.get(metric.name, ()))
                )
        finally:
            asyncio.run(plane.store.close())
    return sorted(found, key=lambda pair: pair[0].name)


def metrics_page() -> str:
    rows = []
    for metric, labels in collect():
        name = metric.name + _SUFFIX.get(metric.type, "")
        label_text = "{" + ",".join(labels) + "}" if labels else ""
        rows.append([code(name + label_text), metric.type, metric.documentation])
    return page(
        "Metrics",
        "Everything `GET /metrics` on the admin port exports (Prometheus text format), from the "
        "registry the server builds. The fleet's numbers (`breakwater_upstream_*`, `_hosts*`, "
        "`_ejections`, `_retries`, `_bulkhead_rejections`, `_timeouts`, `_policy_proxies`) are "
        "summed over the proxies' own reports, never one series per proxy: see "
        "[Observe the fleet](../how-to/observe.md). `breakwater_proxy_sync_state` is exported "
        "only with `serve --per-proxy-metrics`.",
        table(["metric", "type", "what"], rows),
    )
