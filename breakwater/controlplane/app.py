"""`breakwater serve`: every part of the control plane, wired and started in the right order.

This is the composition root: it creates every part (state, reconciler,
xds, api, metrics) and connects them; no part creates another or calls back
into this module. Changes flow one way: the policy controller publishes to
its subscribers (the reconciler and the metrics), the reconciler fills the
snapshot cache, and the xDS server serves from it; a stream's identify hook
tells the reconciler of a new node group, which it then builds as its own
step.

Start: open the store (a corrupt one stops startup with a clear error),
read the policies and the overrides, so that the reconciler holds a
PolicySet before the xDS and admin ports open and the first proxy of each
node group gets the full config at once. When the snapshots kept from the
last run were made from the very inputs found (`state.snapshot_store`), they
are served first: the xDS port opens before the read, the admin API after it. Stop: close the ports (streams
end, proxies keep their config), then the store.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from breakwater.controlplane.api.grpc_service import add_to_server
from breakwater.controlplane.api.http import AdminApp, start_admin
from breakwater.controlplane.api.models import ProxyStatus
from breakwater.controlplane.api.operations import ControlPlaneApi
from breakwater.controlplane.api.policy_models import SnapshotsResponse
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.api.served import served_groups
from breakwater.controlplane.background import Background
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.controlplane.fleet.ejection_history import EjectionHistory
from breakwater.controlplane.fleet.service import FleetReports
from breakwater.controlplane.fleet.sharing import FleetSharing
from breakwater.controlplane.groups import group_key
from breakwater.controlplane.kubernetes.options import KubernetesOptions
from breakwater.controlplane.kubernetes.replica import KubernetesReplica, KubernetesState
from breakwater.controlplane.kubernetes.source import KubernetesSource
from breakwater.controlplane.kubernetes.status_writer import StatusWriter
from breakwater.controlplane.metrics import Metrics
from breakwater.controlplane.ratelimit_config import RateLimitConfigFile
from breakwater.controlplane.reconciler import NewGroups, Reconciler, local_zones
from breakwater.controlplane.rollouts.driver import RolloutDriver
from breakwater.controlplane.rollouts.status import RolloutCollector, rollout_statuses
from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.state.decode_cache import DecodeCache
from breakwater.controlplane.state.etcd import EtcdAccess, is_etcd_url
from breakwater.controlplane.state.policy_source import DirectorySource, PolicySource
from breakwater.controlplane.state.registry import InstanceCollector, InstanceRegistry
from breakwater.controlplane.state.replicas import Replicas, advertised_address, open_store
from breakwater.controlplane.state.snapshot_store import SnapshotStore
from breakwater.controlplane.state.store import Store
from breakwater.controlplane.workers.pool import FeedingCache, WorkerCollector, WorkerPool
from breakwater.controlplane.xds.cache import SnapshotCache
from breakwater.controlplane.xds.options import XdsServerOptions
from breakwater.controlplane.xds.resources import content_hash
from breakwater.controlplane.xds.server import XdsServer
from breakwater.controlplane.xds.status import StreamRegistry
from breakwater.defaults import (
    ADMIN_PORT,
    DEBOUNCE_CAP,
    DEBOUNCE_QUIET,
    HOST,
    POLICY_POLL_INTERVAL,
    XDS_PORT,
)

log = logging.getLogger(__name__)

KEPT_SWITCH_INTERVAL = 0.001
"""The interpreter's switch interval (s) while kept snapshots are served during the first read."""


@dataclass
class ServeConfig:
    policy_dir: Path
    state_dir: Path
    xds_host: str = HOST
    xds_port: int = XDS_PORT
    admin_host: str = HOST
    admin_port: int = ADMIN_PORT
    debounce_quiet: float = DEBOUNCE_QUIET
    debounce_cap: float = DEBOUNCE_CAP
    poll_interval: float = POLICY_POLL_INTERVAL
    xds_options: XdsServerOptions = field(default_factory=XdsServerOptions)
    store_url: str | None = None
    """etcd://host:port[,host:port...]/prefix: state shared by several replicas (state_dir unused)."""
    etcd_access: EtcdAccess | None = None
    """TLS files and the user to reach etcd with; None: plaintext, no user."""
    replica_id: str | None = None
    """Name among the replicas; default HOSTNAME-XDSPORT."""
    security: SecurityConfig = field(default_factory=SecurityConfig)
    fleet: FleetOptions = field(default_factory=FleetOptions)
    per_proxy_metrics: bool = False
    """Also export `breakwater_proxy_sync_state` per proxy (16 series each)."""
    webhook_allow: tuple[str, ...] = ()
    """Hosts Rollout webhooks may call (`--webhook-allow`); empty: any."""
    ratelimit_config: Path | None = None
    """Where to keep the rate-limit service's configuration (`--ratelimit-config`)."""
    kubernetes: KubernetesOptions | None = None
    """Read the policies from a Kubernetes API server instead of `policy_dir` (`--kubernetes`)."""
    workers: int = 0
    """Worker processes serving the xDS port (`--workers`); 0: this process serves it."""

    def policy_source(self) -> PolicySource:
        """The directory by default; the API server with `--kubernetes`."""
        if self.kubernetes is not None:
            from breakwater.controlplane.kubernetes.source import KubernetesSource

            return KubernetesSource(self.kubernetes)
        return DirectorySource(self.policy_dir, self.poll_interval)


class ControlPlane:
    def __init__(self, config: ServeConfig, store: Store | None = None) -> None:
        self.config = config
        for warning in config.security.check_startup(config.xds_host, config.admin_host):
            log.warning("%s", warning)
        self.kube_state: KubernetesState | None = None
        if (
            store is None
            and config.kubernetes is not None
            and not is_etcd_url(config.store_url or "")
        ):
            # On Kubernetes the API server is the store, and a Lease elects the leader.
            self.kube_state = KubernetesState.of(config.kubernetes)
            store = self.kube_state.store
        self.store: Store = (
            store
            if store is not None
            else open_store(config.state_dir, config.store_url, config.etcd_access)
        )
        self.cache = FeedingCache(group_key) if config.workers else SnapshotCache(group_key)
        self.streams = StreamRegistry()
        self.source = config.policy_source()
        # Decoded files are kept on this machine's state directory only: with a shared store
        # there is none, and Kubernetes objects are not files.
        keeps_decoded = config.store_url is None and config.kubernetes is None
        decode_cache = DecodeCache(config.state_dir) if keeps_decoded else None
        self.controller = PolicyController(self.source, self.store, decode_cache)
        self.kept_snapshots = (
            SnapshotStore(config.state_dir, self.controller, config.policy_dir)
            if keeps_decoded and isinstance(self.source, DirectorySource)
            else None
        )
        self.serving_kept = False
        """Serving the snapshots kept from the last run while the first read runs."""
        self.metrics = Metrics(
            self.streams,
            lambda: self.controller.state,
            self.config_version,
            self._snapshot_version,
            per_proxy=config.per_proxy_metrics,
        )
        self.reconciler = Reconciler(
            self.cache,
            quiet=config.debounce_quiet,
            cap=config.debounce_cap,
            on_published=self.metrics.published,
            local_zones=self.streams.per_membership(local_zones),
            on_built=None if self.kept_snapshots is None else self.kept_snapshots.built,
        )
        self.controller.subscribe(self.reconciler)
        if self.kept_snapshots is not None:
            self.controller.subscribe(self.kept_snapshots)
        self.controller.subscribe(self.metrics)
        if config.ratelimit_config is not None:
            self.controller.subscribe(RateLimitConfigFile(config.ratelimit_config))
        self.streams.add_observer(NewGroups(self.reconciler))
        self.streams.add_observer(self.metrics)
        self.replicas = Replicas(
            self.store,
            self.controller,
            lambda: [s.node_id for s in self.streams.streams()],
            config_version=self.config_version,
            replica_id=config.replica_id,
        )
        self.metrics.registry.register(self.replicas.collector())
        claim = self.replicas.claim
        # With several replicas each judges the whole fleet: its own reports and its peers'.
        self.sharing = FleetSharing(
            self.store,
            config.fleet,
            lambda: self.replicas.id,
            # On Kubernetes a share has no lease: it is forgotten by its age.
            (lambda: 0) if self.kube_state is not None else (lambda: self.replicas.lease),
        )
        self.fleet = FleetReports(
            self.cache,
            self.streams,
            lambda: self.controller.state.effective,
            config.fleet,
            stats=self.sharing.local,
            view=self.sharing.view,
        )
        self.metrics.registry.register(self.fleet.collector())
        self.kube = self._kubernetes_replica()
        if self.kube is not None:
            claim = self.kube.claim
        self.ejections = EjectionHistory(self.fleet.view, self.controller.history, claim)
        self.rollouts = RolloutDriver(
            self.controller,
            self.fleet.view,
            self.streams.streams,
            self.fleet.resources_of,
            lambda group: self.reconciler.built_from.get(group, 0.0),
            claim,
            self.metrics.registry,
            webhook_allow=config.webhook_allow,
        )
        self.metrics.registry.register(RolloutCollector(lambda: rollout_statuses(self.controller)))
        self.registry = InstanceRegistry(
            self.controller, records_expiry=lambda: self.replicas.claim("instance-history")
        )
        self.metrics.registry.register(InstanceCollector(self.registry))
        self._sweep = Background("instance-sweep")
        self.api = ControlPlaneApi(
            self.controller,
            self.proxies,
            self.config_version,
            replicas=self.replicas.replicas,
            store=self.replicas.store_status,
            fleet=self.fleet,
            rollouts=self.rollouts,
            writes_need_token=config.security.token is not None,
            snapshots=self.served,
            registry=self.registry,
        )
        # Proxy credentials: checked when a stream names its node, and around each report.
        self.proxy_guard = config.security.proxy_guard()
        if self.proxy_guard is not None:
            self.streams.add_observer(self.proxy_guard)
        services = [add_to_server(self.api, config.security), self.fleet.server_hook()]
        self.xds: XdsServer | WorkerPool
        if isinstance(self.cache, FeedingCache):
            self.xds = WorkerPool(
                config.workers,
                self.cache,
                self.streams,
                host=config.xds_host,
                port=config.xds_port,
                options=config.xds_options,
                security=config.security,
                services=services,
                guard=self.proxy_guard,
            )
        else:
            self.xds = XdsServer(
                self.cache,
                host=config.xds_host,
                port=config.xds_port,
                registry=self.streams,
                options=config.xds_options,
                services=services,
                credentials=config.security.grpc_credentials(),
                admit=None if self.proxy_guard is None else self.proxy_guard.admit,
                interceptors=() if self.proxy_guard is None else [self.proxy_guard.interceptor()],
            )
        self.metrics.registry.register(WorkerCollector(self.xds))
        self.admin = AdminApp(
            self.api, self.metrics.registry, self.not_ready_reason, config.security
        )
        self.admin.store_status = self.replicas.store_status
        self._admin_runner: web.AppRunner | None = None
        self.admin_port = 0
        self.xds_port = 0

    def _kubernetes_replica(self) -> KubernetesReplica | None:
        """With the state on the API server: the election, and the leader's status writes."""
        state = self.kube_state
        if state is None or not isinstance(self.source, KubernetesSource):
            return None
        writer = StatusWriter(state.client, lambda: state.election.leading, "")
        replica = KubernetesReplica(
            self.source,
            self.controller,
            state.store,
            state.election,
            writer,
            proxies=self._applied,
            rollouts=lambda: rollout_statuses(self.controller),
        )
        state.election.on_change = replica.on_leadership
        return replica

    def _applied(self) -> dict[str, tuple[int, int]]:
        """`Kind/name` of each document → (proxies that acknowledged their config, proxies
        whose config it is part of)."""
        synced = {s.node_id for s in self.streams.streams() if s.synced}
        return {
            f"{doc.kind}/{doc.name}": (sum(1 for p in doc.proxies if p in synced), len(doc.proxies))
            for doc in self.api.policies().policies
        }

    def _snapshot_version(self, group: Hashable) -> str | None:
        snapshot = self.cache.get_snapshot(group)
        return None if snapshot is None else snapshot.version

    def config_version(self) -> str:
        """One version for everything served: a hash over every group's snapshot version."""
        versions = sorted(str(s.version) for _, s in self.cache)
        return content_hash(*(v.encode() for v in versions)) if versions else ""

    def served(self) -> SnapshotsResponse:
        return SnapshotsResponse(groups=served_groups(self.cache, self.reconciler.gateways_of))

    def proxies(self) -> list[ProxyStatus]:
        return [
            ProxyStatus.of(s, self.reconciler.gateways_of(s.group))  # type: ignore[arg-type]
            for s in self.streams.streams()
        ]

    def not_ready_reason(self) -> str | None:
        """Ready once a valid policy set was read: the API answers from it. The snapshots
        kept from the last run are served to proxies before that, but the admin API only
        opens once the read is done, so nothing it answers comes from a set not read yet."""
        if self.controller.state.base is None and self.serving_kept:
            return (
                "the policies are still being read; proxies are served the snapshots kept "
                "from the last run meanwhile"
            )
        if self.controller.state.base is None:
            return "no valid policy set has been loaded; see /v1/status for the errors"
        if self.xds_port == 0:
            return "the xDS server is not listening yet"
        return None

    async def start(self, *, freeze_policies: bool = False) -> None:
        """Read the policies and the store, then listen. `freeze_policies`, for a server that
        has its process to itself, leaves what was read at start out of garbage collections."""
        self.controller.freeze_reads = freeze_policies
        await self.controller.load_store()
        self.serving_kept = await self._restore_snapshots()
        switch = sys.getswitchinterval()
        if self.serving_kept:  # proxies are served while the policies are read
            self.xds_port = await self.xds.start()
            if freeze_policies:
                # The read holds the GIL in a worker thread; each time the event loop wakes
                # to serve a proxy it waits up to a switch interval for it (measured at
                # 10 000 services: a proxy served in 0.3-0.4 s instead of 0.7-1.2 s).
                sys.setswitchinterval(KEPT_SWITCH_INTERVAL)
        try:
            await self.source.start(self.controller.reload)
            await self.controller.reload()
        finally:
            sys.setswitchinterval(switch)
            self.serving_kept = False
        if freeze_policies:
            # The policy set just read (at 10 000 services, millions of objects) lives as
            # long as its documents do not change: keep the cyclic collector from walking
            # it again and again (a full collection of it holds the GIL for seconds). No
            # stream exists yet, so nothing that could become cyclic garbage is frozen.
            gc.freeze()
            self.reconciler.freeze_builds = True
        if self.controller.state.base is None:
            log.error(
                "starting without a valid policy set: proxies that connect get nothing until "
                "the policies from %s are fixed",
                self.source.describe(),
            )
        if self.xds_port == 0:
            self.xds_port = await self.xds.start()
        await self._listen_admin()
        await self.replicas.start(
            advertised_address(self.config.xds_host, self.xds_port),
            advertised_address(self.config.admin_host, self.admin_port),
        )
        if self.kube is not None:
            await self.kube.start(self.replicas.id)
        self.sharing.start()
        self.ejections.start()
        self.rollouts.start()
        self._sweep.start(self.registry.run())
        log.info(
            "serving %s: xDS and gRPC API on %s:%d, admin API on http://%s:%d",
            self.source.describe(),
            self.config.xds_host,
            self.xds_port,
            self.config.admin_host,
            self.admin_port,
        )

    async def _restore_snapshots(self) -> bool:
        """Put the snapshots kept from the last run in the cache when they were made from
        the inputs found now; whether any were."""
        kept = self.kept_snapshots
        if kept is None or not isinstance(self.source, DirectorySource):
            return False
        started = time.perf_counter()
        version = await asyncio.to_thread(self.source.files_version)
        snapshots = {} if version is None else await asyncio.to_thread(kept.load, version)
        if not snapshots:
            return False
        self.reconciler.restore(snapshots)
        log.info(
            "serving the snapshots kept from the last run for %d node groups (checked and "
            "loaded in %.3f s) while the policies are read",
            len(snapshots),
            time.perf_counter() - started,
        )
        return True

    async def _listen_admin(self) -> None:
        self._admin_runner = await start_admin(
            self.admin, self.config.admin_host, self.config.admin_port
        )
        self.admin_port = _bound_port(self._admin_runner)

    async def stop(self, grace: float = 1.0) -> None:
        await self._sweep.stop()
        await self.rollouts.stop()
        if self.kube is not None:
            await self.kube.stop()  # hands the Lease over
        await self.ejections.stop()
        await self.sharing.stop()
        await self.replicas.stop()
        await self.source.stop()
        self.fleet.close_streams()
        await self.xds.stop(grace)
        await self.reconciler.close()  # after the xDS port: no stream can bring a new group now
        await self.controller.close()
        if self.kept_snapshots is not None:
            await self.kept_snapshots.close()
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
            self._admin_runner = None
        await self.store.close()
        if self.kube_state is not None:
            await self.kube_state.client.aclose()


def _bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        for sock in sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("admin server has no listening socket")


async def run(config: ServeConfig, stop: asyncio.Event) -> None:
    """`breakwater serve`: the control plane as the process's one tenant, until `stop`."""
    plane = ControlPlane(config)
    await plane.start(freeze_policies=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping: closing xDS streams (proxies keep their config) and the state store")
        await plane.stop()
