"""The fleet reports, wired: receivers on the xDS port, the aggregate, its metrics and status.

`FleetReports` is what the composition root holds. It watches the xDS streams
so that a proxy that disconnects stops counting at once, and it reads the
snapshot cache to know which clusters are Breakwater's (a proxy cannot make
the aggregate grow by reporting clusters nobody serves).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

import grpc

from breakwater.controlplane.fleet.aggregate import FleetStats
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.controlplane.fleet.metrics import FleetCollector
from breakwater.controlplane.fleet.receivers import Receivers
from breakwater.controlplane.fleet.status import policy_statuses, service_health
from breakwater.controlplane.fleet.views import PolicyStatusView, ServiceHealthView
from breakwater.controlplane.xds.cache import SnapshotCache
from breakwater.controlplane.xds.status import StreamRegistry, StreamStatus, XdsObserver
from breakwater.translators.policyset import PolicySet
from breakwater.xds_types import CLUSTER_TYPE, ROUTE_TYPE


class FleetReports(XdsObserver):
    def __init__(
        self,
        cache: SnapshotCache,
        streams: StreamRegistry,
        policyset: Callable[[], PolicySet | None],
        options: FleetOptions | None = None,
        stats: FleetStats | None = None,
        view: FleetStats | None = None,
    ) -> None:
        self.options = options or FleetOptions()
        self.stats = (
            stats
            if stats is not None
            else FleetStats(window=self.options.window, stale_after=self.options.stale_after)
        )
        """What this replica's proxies reported: the metrics export it."""
        self.view = view if view is not None else self.stats
        """What status judges the fleet by: with several replicas, the whole fleet's numbers
        (`fleet.sharing`), of which `stats` is this replica's share."""
        self._cache = cache
        self._streams = streams
        self._policyset = policyset
        self._receivers = Receivers(
            self.stats, self.known_clusters, load_interval=self.options.load_report_interval
        )
        self._known: tuple[tuple[str, ...], frozenset[str]] = ((), frozenset())
        streams.add_observer(self)

    def on_disconnect(self, stream: StreamStatus) -> None:
        self.stats.forget(stream.node_id)

    def known_clusters(self) -> frozenset[str]:
        """Every cluster any group's snapshot carries; recomputed when a snapshot changes."""
        versions = tuple(str(snapshot.version) for _, snapshot in self._cache)
        if versions != self._known[0]:
            names = frozenset(
                name for _, snapshot in self._cache for name in snapshot.resources(CLUSTER_TYPE)
            )
            self._known = (versions, names)
            self.stats.retain_clusters(names)
        return self._known[1]

    def resources_of(self, group: Hashable) -> tuple[frozenset[str], frozenset[str]]:
        snapshot = self._cache.get_snapshot(group)
        if snapshot is None:
            return frozenset(), frozenset()
        return frozenset(snapshot.resources(CLUSTER_TYPE)), frozenset(
            snapshot.resources(ROUTE_TYPE)
        )

    def server_hook(self) -> Callable[[grpc.aio.Server], None]:
        return self._receivers.hook

    def close_streams(self) -> None:
        """End the proxies' report streams, so a stopping xDS server has none to cancel."""
        self._receivers.close()

    def collector(self) -> FleetCollector:
        return FleetCollector(self.stats, self._policyset, self._streams.streams, self.resources_of)

    def policies(self, names: list[str] | None = None) -> list[PolicyStatusView]:
        policyset = self._policyset()
        if policyset is None:
            return []
        return policy_statuses(
            policyset,
            self._streams.streams(),
            self.resources_of,
            self.view,
            time.monotonic(),
            names=names,
        )

    def services(self) -> list[ServiceHealthView]:
        policyset = self._policyset()
        if policyset is None:
            return []
        return service_health(policyset, self.view, time.monotonic())
