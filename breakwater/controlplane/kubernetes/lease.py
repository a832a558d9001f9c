"""Which replica leads: a `coordination.k8s.io/v1` Lease, held the way client-go holds one.

Every replica serves xDS; only the leader writes status, posts Events and drives
rollouts. The Lease names its holder and when it last renewed. The rules:

- The holder renews every `retry` seconds with a compare-and-set on the Lease's
  resourceVersion; another replica's write in between makes the renewal a 409 and
  the holder steps down.
- A replica that is not the holder takes the Lease once it has seen the same
  record (holder, renewTime, resourceVersion) for a whole `duration` on its own
  monotonic clock. It never compares the holder's wall-clock renewTime with its
  own clock, so clock skew between nodes cannot hand the Lease to two replicas.
- The holder counts itself leader only until `renew_deadline` (two thirds of the
  duration) after the start of its last successful renewal, so it stops
  leading a third of a duration before anyone may take over, even when it cannot
  reach the API server to find out it lost.
- A replica that stops cleanly releases the Lease (no holder), so another takes
  over at its next try instead of after the duration; one that dies does not, and
  another takes over within `duration + retry` of its last renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lightkube import ApiError, AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from breakwater.controlplane.kubernetes.forbidden import UNREACHABLE, refusal
from breakwater.defaults import LEASE_DURATION

log = logging.getLogger(__name__)

LEASE_NAME = "breakwater-control-plane"


class _Refused(Exception):
    """The API server refused one call on the Lease; `verb` is the call's RBAC verb."""

    def __init__(self, verb: str, error: ApiError) -> None:
        super().__init__(str(error))
        self.verb = verb
        self.error = error


@dataclass(frozen=True)
class _Observed:
    holder: str
    renew_time: datetime | None
    resource_version: str


class LeaderElection:
    """This replica's standing in one Lease; `leading` is what every leader-only task asks."""

    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        duration: float = LEASE_DURATION,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew_deadline = duration * 2 / 3
        self.retry = duration / 5
        self.on_change = on_change
        self._valid_until = 0.0
        self._observed: _Observed | None = None
        self._observed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._was_leading = False
        self.holder: str | None = None
        """The holder as last read (this replica's identity while it leads)."""
        self.error: str | None = None
        """Why the last attempt failed, in a sentence; None after one succeeds."""

    @property
    def leading(self) -> bool:
        return time.monotonic() < self._valid_until

    async def start(self) -> None:
        """Try once at once (a lone replica leads before its first snapshot), then keep trying."""
        await self._try()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="breakwater-leader-election"
        )

    async def stop(self, release: bool = True) -> None:
        """Stop renewing; with `release`, hand the Lease back so another takes over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if release and self.leading:
            with contextlib.suppress(ApiError, *UNREACHABLE):
                await asyncio.wait_for(self._release(), self.retry)
        self._valid_until = 0.0
        self._notify()

    async def wait_leading(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.leading:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(min(0.05, self.retry))
        return True

    # --- the loop ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.retry)
            await self._try()

    async def _try(self) -> None:
        started = time.monotonic()
        try:
            acquired = await asyncio.wait_for(self._acquire_or_renew(), self.renew_deadline)
        except _Refused as exc:
            acquired = False
            self.error = refusal(
                exc.error, exc.verb, "coordination.k8s.io", "leases", self.namespace
            )
            log.warning("leader election: %s", self.error)
        except UNREACHABLE as exc:
            acquired = False
            self.error = f"cannot reach the API server for Lease {self.name}: {exc or 'timed out'}"
            log.warning("leader election: %s", self.error)
        else:
            self.error = None
        if acquired:
            self._valid_until = started + self.renew_deadline
        elif self.leading and self.holder not in (None, self.identity):
            self._valid_until = 0.0  # someone else holds it now: step down at once
        self._notify()

    def _notify(self) -> None:
        leading = self.leading
        if leading != self._was_leading:
            self._was_leading = leading
            log.info(
                "leader election: %s %s Lease %s/%s",
                self.identity,
                "holds" if leading else "no longer holds",
                self.namespace,
                self.name,
            )
            if self.on_change is not None:
                self.on_change(leading)

    async def _acquire_or_renew(self) -> bool:
        now = datetime.now(UTC)
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise _Refused("get", exc) from exc
            return await self._create(now)
        spec = lease.spec or LeaseSpec()
        assert lease.metadata is not None
        observed = _Observed(
            spec.holderIdentity or "", spec.renewTime, lease.metadata.resourceVersion or ""
        )
        if observed != self._observed:
            self._observed, self._observed_at = observed, time.monotonic()
        self.holder = observed.holder or None
        mine = observed.holder == self.identity
        if observed.holder and not mine and time.monotonic() < self._observed_at + self.duration:
            return False
        if not mine:
            spec.acquireTime = now
            spec.leaseTransitions = (spec.leaseTransitions or 0) + 1
        spec.holderIdentity = self.identity
        spec.renewTime = now
        spec.leaseDurationSeconds = max(1, round(self.duration))
        lease.spec = spec
        try:
            updated = await self.client.replace(lease)
        except ApiError as exc:
            if exc.status.code == 409:
                return False  # another replica wrote first; read again next time
            raise _Refused("update", exc) from exc
        assert updated.metadata is not None
        self.holder = self.identity
        self._observed = _Observed(self.identity, now, updated.metadata.resourceVersion or "")
        self._observed_at = time.monotonic()
        return True

    async def _create(self, now: datetime) -> bool:
        lease = Lease(
            metadata=ObjectMeta(name=self.name, namespace=self.namespace),
            spec=LeaseSpec(
                holderIdentity=self.identity,
                leaseDurationSeconds=max(1, round(self.duration)),
                acquireTime=now,
                renewTime=now,
                leaseTransitions=0,
            ),
        )
        try:
            await self.client.create(lease)
        except ApiError as exc:
            if exc.status.code == 409:
                return False
            raise _Refused("create", exc) from exc
        self.holder = self.identity
        return True

    async def _release(self) -> None:
        lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        if lease.spec is None or lease.spec.holderIdentity != self.identity:
            return
        lease.spec.holderIdentity = None
        lease.spec.renewTime = datetime.now(UTC)
        await self.client.replace(lease)
        log.info(
            "leader election: %s released Lease %s/%s", self.identity, self.namespace, self.name
        )


__all__ = ["LEASE_NAME", "LeaderElection"]
