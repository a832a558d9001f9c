"""One replica on Kubernetes: it follows the shared state, and while it leads it writes back.

Every replica serves xDS from the same objects and the same state (`KubernetesStore`).
Beside that, each runs:

- the election (`lease.LeaderElection`): whether this replica leads;
- follow: the state ConfigMap's watch; another replica's write (an operator's weight
  override, a drain, the leader's rollout step) is read at once, so every replica serves
  the same weights;
- status: after every read of the objects, on a change of leadership, and every
  `STATUS_INTERVAL` (the proxies' acknowledgements and the Rollouts' progress move
  without any object changing), the leader computes each object's status and writes the
  ones that differ, and posts the Rollouts' new decisions as Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient

from breakwater.controlplane.kubernetes.connection import load_config
from breakwater.controlplane.kubernetes.lease import LEASE_NAME, LeaderElection
from breakwater.controlplane.kubernetes.options import KubernetesOptions
from breakwater.controlplane.kubernetes.source import KubernetesSource, ObjectReport
from breakwater.controlplane.kubernetes.status import StatusView, foreign_gateways
from breakwater.controlplane.kubernetes.status_writer import (
    FIELD_MANAGER,
    STATUS_KINDS,
    StatusWriter,
    rfc3339,
)
from breakwater.controlplane.rollouts.status import RolloutView
from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.state.kubernetes.store import KubernetesStore
from breakwater.controlplane.state.store import StoreError
from breakwater.translators.gateway_api.status import GatewayApiState

log = logging.getLogger(__name__)

STATUS_INTERVAL = 2.0
"""Seconds between two status rounds when no object changed."""


@dataclass
class KubernetesState:
    """What `serve --kubernetes` keeps on the API server: the Lease and the state."""

    client: AsyncClient
    namespace: str
    election: LeaderElection
    store: KubernetesStore

    @classmethod
    def of(cls, options: KubernetesOptions) -> KubernetesState:
        """No I/O yet: the client connects on its first call."""
        config = load_config(options)
        client = AsyncClient(config, field_manager=FIELD_MANAGER)
        namespace = options.control_namespace or config.namespace or "default"
        election = LeaderElection(
            client, namespace, LEASE_NAME, identity="", duration=options.lease_duration
        )
        store = KubernetesStore(client, namespace, holds=lambda claim: election.leading)
        return cls(client, namespace, election, store)


class KubernetesReplica:
    def __init__(
        self,
        source: KubernetesSource,
        controller: PolicyController,
        store: KubernetesStore,
        election: LeaderElection,
        writer: StatusWriter,
        *,
        proxies: Callable[[], Mapping[str, tuple[int, int]]],
        rollouts: Callable[[], list[RolloutView]],
    ) -> None:
        self.source = source
        self.controller = controller
        self.store = store
        self.election = election
        self.writer = writer
        self._proxies = proxies
        self._rollouts = rollouts
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        source.add_listener(lambda _: self._wake.set())

    async def claim(self, what: str) -> bool:
        """The leader does every job that one replica does (drive a rollout, say)."""
        return self.election.leading

    def on_leadership(self, leading: bool) -> None:
        if leading:
            self.writer.forget_posted()
        self._wake.set()

    async def start(self, identity: str) -> None:
        """Join the election as `identity` (the replica's id) and start following."""
        self.election.identity = identity
        self.writer.identity = identity
        await self.election.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._follow(), name="breakwater-kubernetes-state"),
            loop.create_task(self._status_rounds(), name="breakwater-kubernetes-status"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.election.stop()

    # --- the shared state -------------------------------------------------------------

    async def _follow(self) -> None:
        async with contextlib.aclosing(self.store.watch_state()) as changes:
            async for revision in changes:
                try:
                    await self.controller.load_store()
                except StoreError as exc:
                    log.warning("could not read the state another replica wrote: %s", exc)
                    continue
                log.info("following the API server: state revision %d", revision)

    # --- status and Events, on the leader ------------------------------------------------

    async def _status_rounds(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), STATUS_INTERVAL)
            self._wake.clear()
            if not self.election.leading:
                continue
            try:
                await self.status_round()
            except Exception:
                log.exception("writing status failed; trying again in the next round")

    async def status_round(self) -> int:
        """Write what differs, post what is new; returns how many statuses were written."""
        effective = self.controller.state.effective
        rollouts = {view.name: view for view in self._rollouts()}
        pairs = list(self._objects())
        view = StatusView(
            gateway_api=effective.gateway_api if effective is not None else GatewayApiState(),
            proxies=self._proxies(),
            rollouts=rollouts,
            foreign_gateways=foreign_gateways(pairs),
            now=rfc3339(datetime.now(UTC)),
        )
        written = await self.writer.write(pairs, view)
        for obj, report in pairs:
            if report is None or report.kind != "Rollout" or not report.documents:
                continue
            progress = rollouts.get(report.documents[0].partition("/")[2])
            if progress is not None:
                await self.writer.post_rollout_events(obj, progress.history)
        return written

    def _objects(self) -> list[tuple[dict[str, Any], ObjectReport | None]]:
        """Every object whose status Breakwater writes, with what the last read made of it."""
        reports = {
            (r.api_version, r.kind, r.namespace, r.name): r for r in self.source.reports.values()
        }
        wanted = {(k.api_version, k.kind) for k in STATUS_KINDS}
        out: list[tuple[dict[str, Any], ObjectReport | None]] = []
        for kind, objects in self.source.objects_read().items():
            if (kind.api_version, kind.kind) not in wanted:
                continue
            for (namespace, name), obj in objects.items():
                report = reports.get((kind.api_version, kind.kind, namespace, name))
                out.append(({"apiVersion": kind.api_version, "kind": kind.kind, **obj}, report))
        return out


__all__ = ["STATUS_INTERVAL", "KubernetesReplica"]
