"""Publishing this replica's share of the fleet's reports to etcd (or to the Kubernetes API
server: state/kubernetes/fleet_shares.py), and reading its peers'.

Once a second (`PUBLISH_INTERVAL`) one task

1. puts this replica's share at `<prefix>/fleet/<replica id>` under the
   replica's registration lease, so that the share disappears with the
   replica (within the lease's 5 s when it dies, at once when it stops), and
2. reads every share under `<prefix>/fleet/` and hands the others to
   `PeerShares`, which keeps those whose key keeps changing.

One key per replica, overwritten: etcd holds the newest share only (and its
history until compaction). A share that did not change (no reports, same host
views and totals) is not written again, except every `REFRESH` seconds so
that readers can tell a quiet replica from a stuck one.

While etcd does not answer, nothing is published and the peers' shares age
out: the view falls back to this replica's own numbers, which is what it
was before replicas shared anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from breakwater.controlplane.background import Background
from breakwater.controlplane.fleet.aggregate import FleetStats
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.controlplane.fleet.shared import FleetView, PeerShares, RecordingFleetStats, Share
from breakwater.controlplane.state.replicas import LEASE_TTL
from breakwater.controlplane.state.store import Store, StoreError

log = logging.getLogger(__name__)

PUBLISH_INTERVAL = 1.0
"""Seconds between publishes (and reads of the peers): a peer's report reaches the deciding
replica at most two of them after it arrived."""
REFRESH = 2.0
"""A share is written again after this long even when unchanged: proof of life."""


@runtime_checkable
class SharesFleet(Protocol):
    """A store that holds each replica's share: etcd, or the Kubernetes API server."""

    async def put_fleet_share(self, replica_id: str, share: bytes, lease_id: int) -> None: ...

    async def fleet_shares(self) -> dict[str, tuple[int, bytes]]: ...


class FleetSharing:
    """The aggregate this replica fills (`local`), the fleet's view it judges by (`view`),
    and the task that keeps the two apart in etcd.

    On any other store (SQLite: one replica) `view` is `local`, a plain `FleetStats`, and
    the task does nothing.
    """

    def __init__(
        self,
        store: Store,
        options: FleetOptions,
        replica_id: Callable[[], str],
        lease: Callable[[], int | None],
        *,
        interval: float = PUBLISH_INTERVAL,
        stale_after: float = LEASE_TTL,
    ) -> None:
        """`stale_after`: a peer's share that has not changed for this long stops counting;
        the replicas' lease TTL, so a stuck peer counts no longer than a dead one."""
        self._store = store if isinstance(store, SharesFleet) else None
        self.local: FleetStats
        self.view: FleetStats
        self._recording: RecordingFleetStats | None = None
        self._peers = PeerShares(window=options.window, stale_after=stale_after)
        if self._store is None:
            self.local = self.view = FleetStats(
                window=options.window, stale_after=options.stale_after
            )
        else:
            self._recording = RecordingFleetStats(
                window=options.window, stale_after=options.stale_after
            )
            self.local = self._recording
            self.view = FleetView(self._recording, self._peers)
        self._replica_id = replica_id
        self._lease = lease
        self._interval = interval
        self._published: tuple[bytes, float, int | None] = (b"", 0.0, None)
        """What was last written, when (monotonic), under which lease."""
        self._failing = False
        self._background = Background("breakwater-fleet-sharing")
        self.last_size = 0
        """Bytes of the last share written: what each publish costs etcd."""

    def start(self) -> None:
        if self._store is None:
            return
        self._background.start(self._run())

    async def stop(self) -> None:
        await self._background.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.turn()
                if self._failing:
                    log.info("fleet shares: etcd answers again")
                self._failing = False
            except StoreError as exc:
                if not self._failing:
                    log.warning(
                        "fleet shares: %s; judging on this replica's own reports meanwhile", exc
                    )
                self._failing = True
            except Exception:
                log.exception("fleet shares: a turn failed; trying again")
            await asyncio.sleep(self._interval)

    async def turn(self) -> None:
        """Publish this replica's share, then read everyone's."""
        assert self._store is not None and self._recording is not None
        me = self._replica_id()
        await self._publish(self._store, self._recording, me)
        found = await self._store.fleet_shares()
        shares: dict[str, tuple[int, Share | None]] = {}
        for peer, (revision, raw) in found.items():
            if peer == me:
                continue  # counted first-hand already
            held = self._peers.held(peer, revision)
            if held is not None:
                shares[peer] = (revision, held)
                continue
            try:
                shares[peer] = (revision, Share.decode(raw))
            except ValueError as exc:
                log.warning("fleet shares: ignoring replica %s's: %s", peer, exc)
                shares[peer] = (revision, None)
        self._peers.update(shares, time.monotonic())

    async def _publish(self, store: SharesFleet, local: RecordingFleetStats, me: str) -> None:
        lease = self._lease()
        if lease is None or not me:
            return  # not registered (yet, or again): a share without a lease would outlive us
        now = time.monotonic()
        share = local.share(now, time.time())
        body = Share(buckets=share.buckets, hosts=share.hosts, totals=share.totals).encode()
        last_body, last_at, last_lease = self._published
        if body == last_body and lease == last_lease and now - last_at < REFRESH:
            return
        raw = share.encode()
        await store.put_fleet_share(me, raw, lease)
        self._published = (body, now, lease)
        self.last_size = len(raw)
