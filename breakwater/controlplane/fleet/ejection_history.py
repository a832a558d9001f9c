"""Ejections into the history: "what changed at 14:02?" includes "a breaker opened".

Once a second the fleet's view is read; a cluster whose hosts some proxy ejects now, with
ejections enforced in the window, gets one history entry naming the detectors and the host
that failed most where it is ejected. At most one entry per cluster per window
(`RATE_WINDOW_SECONDS`), so a flapping host cannot flood the history; with several
replicas only the one holding the claim writes, so each opening is written once.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable

from breakwater.controlplane.background import Background
from breakwater.controlplane.fleet.aggregate import FleetStats, HostView
from breakwater.controlplane.fleet.causes import detector_text
from breakwater.controlplane.fleet.contract import RATE_WINDOW_SECONDS
from breakwater.controlplane.fleet.views import EjectionCauses
from breakwater.controlplane.state.history import History

log = logging.getLogger(__name__)

WHO = "outlier detection"
CLAIM = "fleet-ejection-history"
INTERVAL_SECONDS = 1.0


def describe(cluster: str, hosts: HostView, causes: EjectionCauses, at: float) -> str:
    """The entry's sentence, e.g. `payments: 10.0.0.5:8080 ejected on 2 of 2 proxies:
    consecutive 5xx, 14:02:05` (UTC). Envoy names no ejected host: the host named is the
    one that failed most on the proxies that eject."""
    detectors = " and ".join(detector_text(d) for d in causes.detectors) or "a detector"
    clock = datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%H:%M:%S")
    suspect = next((h for h in causes.hosts if h.ejected_on), None)
    if suspect is not None:
        who = f"{suspect.address} ejected on {suspect.ejected_on} of {hosts.proxies} proxies"
    else:
        count = "1 host" if hosts.ejected == 1 else f"{hosts.ejected} hosts"
        who = f"{count} ejected on {hosts.proxies_ejecting} of {hosts.proxies} proxies"
    return f"{cluster}: {who}: {detectors}, {clock}"


class EjectionHistory:
    def __init__(
        self,
        fleet: FleetStats,
        history: History,
        claim: Callable[[str], Awaitable[bool]],
    ) -> None:
        self._fleet = fleet
        self._history = history
        self._claim = claim
        self._recorded: dict[str, float] = {}
        """Cluster → monotonic time of its last entry."""
        self._background = Background("breakwater-ejection-history")

    def start(self) -> None:
        self._background.start(self._run())

    async def stop(self) -> None:
        await self._background.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.turn(time.monotonic())
            except Exception:
                log.exception("ejection history: a turn failed; trying again")
            await asyncio.sleep(INTERVAL_SECONDS)

    async def turn(self, now: float) -> None:
        """Record the clusters whose ejections started since their last entry's window."""
        for cluster in [c for c, at in self._recorded.items() if now - at > RATE_WINDOW_SECONDS]:
            del self._recorded[cluster]
        for cluster in sorted(self._fleet.clusters_with_hosts(now) - self._recorded.keys()):
            hosts = self._fleet.hosts(cluster, now)
            if hosts is None or not hosts.ejected:
                continue
            causes = self._fleet.causes(cluster, now, RATE_WINDOW_SECONDS)
            if not causes.detectors:
                continue  # ejected before the window: its entry, if any, is written
            if not await self._claim(CLAIM):
                return
            self._recorded[cluster] = now
            at = causes.first_ejection_at if causes.first_ejection_at is not None else time.time()
            await self._history.record(
                WHO,
                describe(cluster, hosts, causes, at),
                "-",
                f"{hosts.ejected} of {hosts.hosts} hosts ejected on the worst proxy",
            )
