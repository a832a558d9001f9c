"""Several replicas of the control plane on one etcd: each follows the others' writes and says what it serves.

Every replica reads the same policy directory and the same state in etcd.
Three background tasks run per replica:

- follow: a watch on the state keys from the last revision seen + 1. A
  change written by another replica marks the state dirty; when the watch
  breaks (etcd gone), it is re-created from the same revision once etcd
  answers, so nothing written meanwhile is missed. When etcd has compacted
  that revision away, the whole state is read instead.
- reload: reads the state again (`PolicyController.load_store`, which
  republishes) whenever it is dirty; bursts collapse into one read.
- heartbeat: keeps a lease (TTL 5 s) alive and, under it, this replica's
  registration (addresses, policy version, state revision, proxies); it also
  reads the other replicas' registrations. A replica that dies stops
  renewing, its lease expires and it drops from every list. The lease
  keep-alive doubles as the probe of etcd's availability.

While etcd is unreachable nothing changes in what is served: the last state
read stays, writes fail with `StoreError` (HTTP 503), and `/healthz`,
`/readyz`, `/v1/status` and `breakwater_store_available` say so.

With the embedded SQLite store there is one replica and none of the tasks run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.state.etcd import EtcdAccess, EtcdStore, StoreCompacted, is_etcd_url
from breakwater.controlplane.state.store import SqliteStore, Store, StoreError

log = logging.getLogger(__name__)

LEASE_TTL = 5
"""Seconds a dead replica stays listed."""
TICK = 0.5
"""How often the registration is compared with what this replica serves."""
RETRY = 0.5
"""Pause between attempts while etcd does not answer."""

_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def open_store(
    state_dir: Path, store_url: str | None = None, etcd_access: EtcdAccess | None = None
) -> Store:
    """The store `--state` names: an etcd URL (reached with `etcd_access`), or else a directory
    for the embedded SQLite file."""
    if store_url is not None and is_etcd_url(store_url):
        return EtcdStore.from_url(store_url, access=etcd_access)
    if store_url is not None:
        state_dir = Path(store_url)
    return SqliteStore(state_dir)


def advertised_address(host: str, port: int) -> str:
    """HOST:PORT another machine can use: the host name when bound to every interface."""
    if host in _WILDCARDS:
        host = socket.gethostname()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Replicas:
    """This replica among its peers; with an etcd store it also keeps itself in step with them."""

    def __init__(
        self,
        store: Store,
        controller: PolicyController,
        proxies: Callable[[], list[str]],
        *,
        config_version: Callable[[], str] = lambda: "",
        replica_id: str | None = None,
        lease_ttl: int = LEASE_TTL,
    ) -> None:
        self.store = store
        self.controller = controller
        self._proxies = proxies
        self._config_version = config_version
        self.id = replica_id or ""
        self.lease_ttl = lease_ttl
        self.xds_address = ""
        self.admin_address = ""
        self.started_at = time.time()
        self._peers: list[dict[str, Any]] = []
        self._lease: int | None = None
        self._registered: dict[str, Any] | None = None
        self._seen = 0
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def etcd(self) -> EtcdStore | None:
        return self.store if isinstance(self.store, EtcdStore) else None

    @property
    def lease(self) -> int | None:
        """The registration lease, while this replica holds one: what else it keeps in etcd
        for as long as it lives goes under it."""
        return self._lease

    async def claim(self, what: str) -> bool:
        """Whether this replica is the one to do `what` (drive one rollout, say).

        Alone on its own store, it always is. On etcd, the first replica to claim it holds it
        under its registration lease, and another takes over once that lease expires.
        """
        etcd = self.etcd
        if etcd is None:
            return True
        if self._lease is None:
            return False
        try:
            return await etcd.claim(what, self.id, self._lease) == self.id
        except StoreError as exc:
            log.warning("cannot claim %s: %s", what, exc)
            return False

    # --- what status, health and metrics show ------------------------------------

    def local(self) -> dict[str, Any]:
        state = self.controller.state
        return {
            "id": self.id,
            "xds_address": self.xds_address,
            "admin_address": self.admin_address,
            "policy_version": state.policy_version,
            "state_revision": state.revision,
            "config_version": self._config_version(),
            "proxies": sorted(set(self._proxies())),
            "started_at": self.started_at,
        }

    def replicas(self) -> list[dict[str, Any]]:
        """Every live replica, this one first-hand and the others as they last registered."""
        mine = {**self.local(), "self": True, "store_available": self.store_available()}
        others = [{**p, "self": False} for p in self._peers if p.get("id") != self.id]
        return sorted([mine, *others], key=lambda r: str(r.get("id", "")))

    def store_available(self) -> bool:
        if self.store.shared:
            return self.store.health().available
        return self.controller.state.store_error is None  # the embedded file: its last write

    def store_status(self) -> dict[str, Any]:
        """The store's own health; a store on this machine is as healthy as its last write."""
        health = self.store.health()
        status: dict[str, Any] = {"backend": self.store.describe(), "available": True}
        if not health.available:
            status.update(
                available=False,
                error=health.error,
                unavailable_since=health.unavailable_since,
                writes=health.writes,
            )
        elif not self.store.shared and self.controller.state.store_error is not None:
            status.update(
                available=False,
                error=self.controller.state.store_error,
                unavailable_since=self.controller.state.store_error_since,
                writes="refused until a write succeeds again; serving the current state",
            )
        return status

    def skew(self) -> dict[str, int]:
        """How many other replicas serve another policy version, or another state revision."""
        mine = self.local()
        others = [r for r in self.replicas() if not r["self"]]
        return {
            field: sum(1 for r in others if r.get(field) != mine[field])
            for field in ("policy_version", "state_revision")
        }

    def collector(self) -> Collector:
        return _ReplicaCollector(self)

    # --- lifecycle ---------------------------------------------------------------

    async def start(self, xds_address: str, admin_address: str) -> None:
        self.xds_address = xds_address
        self.admin_address = admin_address
        if not self.id:
            self.id = f"{socket.gethostname()}-{xds_address.rsplit(':', 1)[-1]}"
        etcd = self.etcd
        if etcd is None:
            return
        self._seen = etcd.read_revision
        with contextlib.suppress(StoreError):
            await self._register()
        loop = asyncio.get_running_loop()
        for name, body in (
            ("follow", self._follow),
            ("reload", self._reload_when_dirty),
            ("heartbeat", self._heartbeat),
        ):
            self._tasks.append(loop.create_task(body(etcd), name=f"breakwater-replica-{name}"))
        log.info(
            "replica %s: following %s from revision %d, registered with a %d s lease",
            self.id,
            etcd.describe(),
            self._seen,
            self.lease_ttl,
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        etcd, lease = self.etcd, self._lease
        self._lease = None
        if etcd is not None and lease is not None:
            # Leave the list at once instead of after the lease's TTL.
            with contextlib.suppress(StoreError, TimeoutError):
                await asyncio.wait_for(etcd.revoke_lease(lease), 1.0)

    # --- follow other writers ----------------------------------------------------

    async def _follow(self, etcd: EtcdStore) -> None:
        while True:
            try:
                async with contextlib.aclosing(etcd.watch_state(self._seen + 1)) as changes:
                    async for revision in changes:
                        if revision <= self._seen:
                            continue  # one transaction: several keys, one revision
                        self._seen = revision
                        if revision in etcd.own_revisions:
                            etcd.own_revisions.discard(revision)
                        else:
                            self._dirty.set()
            except StoreCompacted as exc:
                log.warning("%s; reading the whole state", exc)
                while not await self._reload(etcd):
                    await asyncio.sleep(RETRY)
                continue
            except StoreError:
                await asyncio.sleep(RETRY)
                continue
            # The watch ended because the connection was replaced: resume at once.
            await asyncio.sleep(0)

    async def _reload_when_dirty(self, etcd: EtcdStore) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if not await self._reload(etcd):
                self._dirty.set()
                await asyncio.sleep(RETRY)

    async def _reload(self, etcd: EtcdStore) -> bool:
        before = self.controller.state.revision
        try:
            await self.controller.load_store()
        except StoreError as exc:
            log.warning("could not read the state written by another replica: %s", exc)
            return False
        except Exception:
            log.exception("reading the state written by another replica failed")
            return False
        self._seen = max(self._seen, etcd.read_revision)
        if self.controller.state.revision != before:
            log.info(
                "following etcd: state revision %d -> %d", before, self.controller.state.revision
            )
        return True

    # --- registration --------------------------------------------------------------

    def _registration(self) -> dict[str, Any]:
        info = self.local()
        info.pop("config_version", None)  # follows from the other two; not worth a write each time
        return info

    async def _register(self) -> None:
        etcd = self.etcd
        assert etcd is not None
        if self._lease is None:
            self._lease = await etcd.grant_lease(self.lease_ttl)
            self._registered = None
        info = self._registration()
        if info != self._registered:
            await etcd.put_replica(self.id, info, self._lease)
            self._registered = info
            self._peers = await etcd.list_replicas()

    async def _heartbeat(self, etcd: EtcdStore) -> None:
        interval = self.lease_ttl / 3
        next_renewal = time.monotonic() + interval
        while True:
            await asyncio.sleep(TICK)
            try:
                if self._lease is not None and time.monotonic() >= next_renewal:
                    ttl = await etcd.keep_alive(self._lease)
                    next_renewal = time.monotonic() + interval
                    if ttl <= 0:
                        log.warning(
                            "replica %s: etcd let its lease expire; registering again", self.id
                        )
                        self._lease = None
                    else:
                        self._peers = await etcd.list_replicas()
                await self._register()
            except StoreError:
                pass  # the store logged it and reports itself unavailable; try again next tick


class _ReplicaCollector(Collector):
    def __init__(self, replicas: Replicas) -> None:
        self._replicas = replicas

    def collect(self) -> Iterator[GaugeMetricFamily]:
        replicas = self._replicas
        yield GaugeMetricFamily(
            "breakwater_store_available",
            "1 while the state store answers; 0 while writes are refused and the last state serves.",
            value=1.0 if replicas.store_available() else 0.0,
        )
        listed = replicas.replicas()
        yield GaugeMetricFamily(
            "breakwater_replicas",
            "Control plane replicas registered in the shared store, this one included.",
            value=len(listed),
        )
        skew = GaugeMetricFamily(
            "breakwater_replica_skew",
            "Other replicas serving a different policy version or state revision than this one.",
            labels=["field"],
        )
        for field, count in sorted(replicas.skew().items()):
            skew.add_metric([field], count)
        yield skew
        revisions = GaugeMetricFamily(
            "breakwater_replica_state_revision",
            "State revision each replica last registered (this one: the revision it serves).",
            labels=["replica"],
        )
        for replica in listed:
            revisions.add_metric(
                [str(replica.get("id", ""))], float(replica.get("state_revision", 0))
            )
        yield revisions


__all__ = ["LEASE_TTL", "Replicas", "advertised_address", "open_store"]
