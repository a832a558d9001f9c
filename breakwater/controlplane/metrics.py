"""Prometheus metrics: what every proxy has, what every policy is, how fast changes land.

State that already lives elsewhere (streams, policies, weights) is read at
scrape time by a collector instead of being mirrored into gauges on every
event; only true events (pushes, NACKs, load errors, convergence times) are
counted as they happen. Each process has its own registry so that several
control planes can live in one test process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from breakwater.controlplane.groups import group_label
from breakwater.controlplane.state.controller import PolicyState, PolicySubscriber
from breakwater.controlplane.xds.resources import Snapshot, short_name
from breakwater.controlplane.xds.source import Node
from breakwater.controlplane.xds.status import StreamRegistry, StreamStatus, XdsObserver
from breakwater.translators.errors import PolicyError
from breakwater.translators.overrides import rule_labels

SYNC_STATES = ("synced", "stale", "nacked", "waiting")
CONVERGENCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class _StateCollector(Collector):
    def __init__(
        self,
        streams: StreamRegistry,
        policy_state: Callable[[], PolicyState],
        config_version: Callable[[], str],
        per_proxy: bool,
    ) -> None:
        self._streams = streams
        self._policy_state = policy_state
        self._config_version = config_version
        self._per_proxy = per_proxy

    def collect(self) -> Iterator[Metric]:
        streams = self._streams.streams()
        yield GaugeMetricFamily(
            "breakwater_connected_proxies",
            "xDS streams with an identified node.",
            value=len(streams),
        )
        by_group: dict[tuple[str, str, str], int] = {}
        for stream in streams:
            for status in stream.types.values():
                key = (group_label(stream.group), status.short_name, status.state)
                by_group[key] = by_group.get(key, 0) + 1
        proxies = GaugeMetricFamily(
            "breakwater_proxies",
            "Proxies per node group and xDS type, by sync state (synced, stale, nacked, waiting).",
            labels=["group", "type", "state"],
        )
        for group, type_name in sorted({(g, t) for g, t, _ in by_group}):
            for sync_state in SYNC_STATES:
                proxies.add_metric(
                    [group, type_name, sync_state], by_group.get((group, type_name, sync_state), 0)
                )
        yield proxies
        if self._per_proxy:
            yield self._per_proxy_sync(streams)

        state = self._policy_state()
        documents = GaugeMetricFamily(
            "breakwater_policy_documents",
            "Policy documents in the policy directory, by state (valid, invalid).",
            labels=["state"],
        )
        valid = sum(1 for d in state.documents if d.valid)
        documents.add_metric(["valid"], valid)
        documents.add_metric(["invalid"], len(state.documents) - valid)
        yield documents
        yield GaugeMetricFamily(
            "breakwater_policy_load_failing",
            "1 while the policy directory has errors and the last good config is serving.",
            value=1.0 if state.load_errors else 0.0,
        )

        weights = GaugeMetricFamily(
            "breakwater_route_backend_weight",
            "Effective weight of each backend of each HTTPRoute rule (YAML or API override).",
            labels=["route", "rule", "backend", "source"],
        )
        if state.effective is not None:
            for route_name, route in sorted(state.effective.routes.items()):
                for index, rule in enumerate(route.spec.rules):
                    source = state.weight_source(route_name, index)
                    for label, backend in zip(rule_labels(rule), rule.backends, strict=True):
                        weights.add_metric([route_name, str(index), label, source], backend.weight)
        yield weights
        yield GaugeMetricFamily(
            "breakwater_dropped_overrides_reported",
            "Dropped weight overrides still reported in status (until their rule is written again).",
            value=len(state.dropped),
        )
        yield CounterMetricFamily(
            "breakwater_dropped_overrides",
            "Weight overrides dropped because the YAML no longer has their backends.",
            value=state.drops_total,
        )
        yield CounterMetricFamily(
            "breakwater_store_write_failures",
            "Writes the state store refused (disk full, file too large, I/O error, store down).",
            value=state.store_write_failures,
        )
        yield GaugeMetricFamily(
            "breakwater_state_revision",
            "Revision of the durable state served.",
            value=state.revision,
        )
        info = InfoMetricFamily(
            "breakwater_config", "Versions being served: policy files and the resulting config."
        )
        info.add_metric(
            [], {"policy_version": state.policy_version, "config_version": self._config_version()}
        )
        yield info

    @staticmethod
    def _per_proxy_sync(streams: list[StreamStatus]) -> Metric:
        """16 series per proxy (4 types by 4 states): for small fleets, behind `--per-proxy-metrics`."""
        sync = GaugeMetricFamily(
            "breakwater_proxy_sync_state",
            "1 for the sync state each proxy is in, per xDS type (synced, stale, nacked, waiting).",
            labels=["node_id", "node_cluster", "type", "state"],
        )
        for stream in streams:
            for status in stream.types.values():
                for sync_state in SYNC_STATES:
                    sync.add_metric(
                        [stream.node_id, stream.node_cluster, status.short_name, sync_state],
                        1.0 if status.state == sync_state else 0.0,
                    )
        return sync


_PER_TYPE_LIMIT = 64
"""Counter children remembered by type URL; any further type is looked up each time."""


class Metrics(XdsObserver, PolicySubscriber):
    """Counters fed by xDS and policy events, plus the change-to-ACK latency of every change."""

    def __init__(
        self,
        streams: StreamRegistry,
        policy_state: Callable[[], PolicyState],
        config_version: Callable[[], str],
        current_version: Callable[[Hashable], str | None] = lambda group: None,
        *,
        per_proxy: bool = False,
    ) -> None:
        self.registry = CollectorRegistry()
        self._streams = streams
        self._current_version = current_version
        self._check_cost = 0.0
        self.pushes = Counter(
            "breakwater_xds_pushes",
            "xDS responses sent, by type.",
            ["type"],
            registry=self.registry,
        )
        self.acks = Counter(
            "breakwater_xds_acks", "xDS ACKs received, by type.", ["type"], registry=self.registry
        )
        self.nacks = Counter(
            "breakwater_xds_nacks",
            "xDS NACKs received (a proxy rejected a config), by type.",
            ["type"],
            registry=self.registry,
        )
        self.load_errors = Counter(
            "breakwater_policy_load_errors",
            "Reloads of the policy directory that failed validation (the last good config stayed).",
            registry=self.registry,
        )
        self.change_to_ack = Histogram(
            "breakwater_change_to_ack_seconds",
            "From a policy file change or an API write to every affected proxy ACKing the result.",
            buckets=CONVERGENCE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(streams, policy_state, config_version, per_proxy))
        self._pending: list[tuple[float, frozenset[Hashable]]] = []
        self._check: asyncio.TimerHandle | None = None
        self._per_type: dict[tuple[Counter, str], Counter] = {}

    # --- xDS events ------------------------------------------------------

    def _of_type(self, counter: Counter, type_url: str) -> Counter:
        """The counter's child for a type URL, looked up once: a push to 10 000 streams
        counts 10 000 sends, and ``labels()`` takes a lock and builds a key every time."""
        child = self._per_type.get((counter, type_url))
        if child is None:
            child = counter.labels(short_name(type_url))
            if len(self._per_type) < _PER_TYPE_LIMIT:  # type URLs come from the proxies
                self._per_type[(counter, type_url)] = child
        return child

    def on_send(self, node: Node, type_url: str, version: str, resources: int) -> None:
        self._of_type(self.pushes, type_url).inc()

    def on_ack(self, node: Node, type_url: str, version: str) -> None:
        self._of_type(self.acks, type_url).inc()
        self._schedule_check()

    def on_nack(self, node: Node, type_url: str, version: str, message: str) -> None:
        self._of_type(self.nacks, type_url).inc()

    def on_disconnect(self, stream: StreamStatus) -> None:
        self._schedule_check()

    # --- policy events -----------------------------------------------------

    def on_load_error(self, errors: list[PolicyError]) -> None:
        self.load_errors.inc()

    # --- convergence -------------------------------------------------------

    def published(self, changed_at: float, snapshots: dict[Hashable, Snapshot]) -> None:
        """A change reached the cache for these groups; time it until their proxies all ACK."""
        self._pending.append((changed_at, frozenset(snapshots)))
        self._schedule_check()

    def _schedule_check(self) -> None:
        """Check convergence soon, at most once per burst of ACKs and never back to back.

        Checks cost O(streams); spacing them by twice their own cost keeps a
        fleet of thousands ACKing at once from spending the loop on checks.
        """
        if not self._pending or self._check is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._check = loop.call_later(max(0.02, 2 * self._check_cost), self._run_check)

    def _run_check(self) -> None:
        """Observe each change whose proxies are all synced; a change no proxy needed is not timed."""
        self._check = None
        started = time.monotonic()
        groups = frozenset().union(*(g for _, g in self._pending))
        present, unsynced = self._streams.convergence(groups, self._current_version)
        still: list[tuple[float, frozenset[Hashable]]] = []
        for changed_at, affected in self._pending:
            if affected & unsynced:
                still.append((changed_at, affected))
            elif affected & present:
                self.change_to_ack.observe(started - changed_at)
        self._pending = still
        self._check_cost = time.monotonic() - started
