"""Instances that register themselves: register, renew, deregister (drain first), expire.

A Service opts in with `spec.registration`. A registration names the
instance by `ADDRESS:PORT`; registering again is a renewal when nothing the
proxies see changes (labels, zone, weight), and a change otherwise. A
renewal touches only the store: nothing is translated or pushed, so
thousands of instances renewing every few seconds cost the proxies nothing.
Renewals that arrive together are saved in one transaction (SQLite syncs
once for all of them).

Deregistering does not remove an instance at once: it drains (DRAINING in
EDS, as an API drain) for the Service's `drainTime`, then leaves. An
instance that is not renewed within its TTL expires and leaves without a
drain: it is presumed dead. On SQLite this server removes it when due; on
etcd each instance's key lives under a lease of its TTL, etcd removes it,
and every replica sees it go.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from breakwater.controlplane.limits import MAX_INSTANCE_LABELS, MAX_INSTANCE_TTL, MIN_INSTANCE_TTL
from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.state.history import HISTORY_LIMIT, entry
from breakwater.controlplane.state.instances import Instance
from breakwater.controlplane.state.store import StoreError
from breakwater.translators.drains import EndpointNotFound
from breakwater.translators.durations import format_duration
from breakwater.translators.model import Registration, Service
from breakwater.translators.names import endpoint_key
from breakwater.translators.registration import unmatched_subsets

log = logging.getLogger(__name__)
T = TypeVar("T")

SWEEP_SECONDS = 0.25
"""How often, at most, instances are looked over for one that expired or finished draining:
an instance leaves at most this late."""


_Registering = tuple[Instance, Service, Registration, "asyncio.Future[Instance]"]
"""A registration waiting to be saved: the instance, its Service and `registration`, and
where its caller waits."""


class RegistrationError(ValueError):
    """A registration written wrong (address, port, labels, TTL); the message says what to send."""


class NotRegistrable(Exception):
    """The Service does not take registrations; the message says how it could."""


class InstanceLimit(Exception):
    """The Service holds as many instances as its `maxInstances`; the message says what to do."""


class InstanceNotFound(EndpointNotFound):
    """No such instance is registered; the message lists those that are."""


@dataclass(frozen=True)
class Registered:
    """What a registration did: the instance as saved, and what its caller should know."""

    instance: Instance
    created: bool
    """A new instance, or one that changed (False: a renewal)."""
    warnings: tuple[str, ...] = ()


def parse_instance_endpoint(text: str) -> tuple[str, int]:
    """(address, port) of `ADDRESS:PORT` (IPv6 as `[ADDRESS]:PORT`), or a sentence."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        raise RegistrationError(
            f"{text!r} is not ADDRESS:PORT; name the instance by its IP address and port, "
            "e.g. 10.0.0.7:8080 or [fd00::7]:8080"
        )
    address = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise RegistrationError(
            f"the address {address!r} of {text!r} is not an IP address; register the instance "
            "by the IP address Envoy connects to (a host name belongs in a `dns` Service)"
        ) from None
    try:
        port = int(port_text)
    except ValueError:
        raise RegistrationError(
            f"the port {port_text!r} of {text!r} is not a number; use a port from 1 to 65535"
        ) from None
    if not 1 <= port <= 65535:
        raise RegistrationError(
            f"the port {port} of {text!r} is out of range; use a port from 1 to 65535"
        )
    return address, port


def check_labels(labels: Mapping[str, str]) -> None:
    if len(labels) > MAX_INSTANCE_LABELS:
        raise RegistrationError(
            f"`labels` has {len(labels)} labels; an instance may carry at most "
            f"{MAX_INSTANCE_LABELS}"
        )
    for key in labels:
        if not key:
            raise RegistrationError("`labels` has an empty name; give every label a name")


def check_ttl(ttl: float) -> None:
    if not MIN_INSTANCE_TTL <= ttl <= MAX_INSTANCE_TTL:
        raise RegistrationError(
            f"`ttl` {ttl:g}s is out of range; use from {MIN_INSTANCE_TTL:g}s to "
            f"{MAX_INSTANCE_TTL / 3600:g}h (e.g. 30s)"
        )


class InstanceRegistry:
    """Registered instances, held by the controller's state and saved in its store."""

    def __init__(
        self,
        controller: PolicyController,
        clock: Callable[[], float] = time.time,
        records_expiry: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.controller = controller
        self.clock = clock
        self.records_expiry = records_expiry
        """On a shared store, whether this replica records the expiries etcd carried out (one
        replica does, so the shared history holds each once); None: always."""
        self._pending: list[tuple[Instance, asyncio.Future[bool]]] = []
        self._registering: list[_Registering] = []
        self._registrar: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._dirty_since = 0.0
        """Monotonic time of the first saved write not published yet (0: none)."""
        self.expired_total = 0
        self.renewals_total = 0
        controller.watch_instances(self._reloaded)

    # --- reading ------------------------------------------------------------------

    def registration(self, service: str) -> tuple[Service, Registration]:
        """The Service and its `registration`, or a sentence saying why it takes none."""
        base = self.controller._base()
        document = base.services.get(service)
        if document is None:
            known = ", ".join(sorted(base.services)) or "none"
            raise EndpointNotFound(
                f"Service {service!r} is not declared; declared services: {known}"
            )
        spec = document.spec
        if spec.dns is not None:
            raise NotRegistrable(
                f"Service {service!r} is reached through DNS ({spec.dns.name}), so it cannot "
                "take registrations: Envoy resolves its hosts itself. Replace `dns` with "
                "`registration: {ttl: 30s}` to let instances register"
            )
        if spec.registration is None:
            where = base.sources.get(("Service", service))
            place = f" ({where.file}:{where.line})" if where is not None else ""
            raise NotRegistrable(
                f"Service {service!r} does not take registrations; add `registration: {{ttl: "
                f"30s, maxInstances: 100}}` to its spec{place} to let instances register"
            )
        return document, spec.registration

    def instances(self, service: str) -> list[Instance]:
        """The Service's registered instances, by endpoint (the Service must take them)."""
        self.registration(service)
        return self.of(service)

    async def listed(self, service: str) -> list[Instance]:
        """The Service's instances with their last renewal and expiry as the store knows them:
        on etcd a renewal on another replica is a keep-alive that writes nothing, so the
        times come from each instance's lease (see `EtcdInstances.lease_times`)."""
        instances = self.of(service)
        try:
            return await self.controller.store.lease_times(instances)
        except StoreError as exc:
            log.warning("listing instances with the times this replica knows: %s", exc)
            return instances

    def of(self, service: str) -> list[Instance]:
        found = [i for (s, _), i in self.controller.state.instances.items() if s == service]
        return sorted(found, key=lambda i: (":" in i.address, i.address, i.port))

    # --- writing ------------------------------------------------------------------

    async def register(
        self,
        service: str,
        endpoint: str,
        labels: Mapping[str, str],
        zone: str | None,
        weight: int,
        ttl: float | None,
        who: str,
    ) -> Registered:
        """Register an instance, renew it, or change it; durable before this returns."""
        address, port = parse_instance_endpoint(endpoint)
        key = endpoint_key(address, port)
        check_labels(labels)
        document, registration = self.registration(service)
        seconds = registration.ttl.total_seconds() if ttl is None else ttl
        check_ttl(seconds)
        now = self.clock()
        wanted = Instance(
            service, key, address, port, dict(labels), zone, weight, seconds, now, now,
            now + seconds, False, who,
        )  # fmt: skip
        current = self.controller.state.instances.get((service, key))
        if (
            current is not None
            and not current.draining
            and current.same_endpoint(wanted)
            and current.ttl == seconds
        ):
            renewed = current.renewed(now)
            if await self._renew(renewed):
                return Registered(self.controller.state.instances.get(renewed.key, renewed), False)
        warnings = self._warnings(document, labels)
        future: asyncio.Future[Instance] = asyncio.get_running_loop().create_future()
        self._registering.append((wanted, document, registration, future))
        if self._registrar is None or self._registrar.done():
            self._registrar = asyncio.create_task(self._save_registrations())
        return Registered(await future, True, warnings)

    async def deregister(self, service: str, endpoint: str, who: str) -> Instance:
        """Drain the instance for the Service's `drainTime`, after which it leaves."""
        address, port = parse_instance_endpoint(endpoint)
        key = endpoint_key(address, port)
        _, registration = self.registration(service)
        async with self.controller._lock:
            current = self.controller.state.instances.get((service, key))
            if current is None:
                listed = ", ".join(i.endpoint for i in self.of(service)) or "none"
                raise InstanceNotFound(
                    f"Service {service!r} has no registered instance {key}; registered: {listed}"
                )
            if current.draining:
                return current
            drain = registration.drain_time.total_seconds()
            now = self.clock()
            draining = replace(current, draining=True, expires_at=now + drain, ttl=drain, by=who)
            saved = await self._write(self.controller.store.put_instance(draining))
            self.controller.state.instances[saved.key] = saved
            self.controller.instances_changed({service})
        self._publish_soon()
        await self.controller.history.record(
            who,
            f"instance {key} of {service} deregistered: draining for "
            f"{format_duration(registration.drain_time)}",
            "serving",
            "draining",
        )
        return saved

    # --- publishing, once for the writes that arrive together --------------------------

    def _publish_soon(self) -> None:
        """Serve what was just saved, together with the writes that arrive meanwhile: a burst
        of registrations (a fleet starting) lays the instances over the YAML once, not once
        per instance. The translation and the push are debounced after it as any change."""
        self._dirty_since = self._dirty_since or time.monotonic()
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish_pending())

    async def _publish_pending(self) -> None:
        await asyncio.sleep(0)  # the writes already waiting for the lock land first
        while self._dirty_since:
            changed_at, self._dirty_since = self._dirty_since, 0.0
            async with self.controller._lock:
                if self.controller.state.base is not None:
                    await self.controller._publish(changed_at)

    # --- registrations, saved together ---------------------------------------------

    async def _save_registrations(self) -> None:
        """Save the registrations waiting, and those that arrive meanwhile, in one store write
        with their history entries (SQLite: one transaction, one sync): a fleet starting costs
        a sync per burst, not two per instance. Each is answered once the write is durable."""
        while self._registering:
            batch, self._registering = self._registering, []
            try:
                await self._save_batch(batch)
            except Exception as exc:  # StoreError, or a fault: no caller may wait forever
                for _, _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def _save_batch(self, batch: list[_Registering]) -> None:
        async with self.controller._lock:
            accepted = self._accept(batch)
            if not accepted:
                return
            entries = [e for _, e, _ in accepted]
            saved = await self._write(
                self.controller.store.put_instances(
                    [i for i, _, _ in accepted], entries, HISTORY_LIMIT
                )
            )
            for instance in saved:
                self.controller.state.instances[instance.key] = instance
                self.controller.state.revision = max(
                    self.controller.state.revision, instance.revision
                )
            self.controller.instances_changed({i.service for i in saved})
        self._publish_soon()
        for instance, (_, _, future) in zip(saved, accepted, strict=True):
            if not future.done():
                future.set_result(instance)

    def _accept(
        self, batch: list[_Registering]
    ) -> list[tuple[Instance, dict[str, Any], asyncio.Future[Instance]]]:
        """The registrations of a batch that may be saved, with their history entries; the
        others' callers are told why (a static endpoint, the instance limit)."""
        accepted: list[tuple[Instance, dict[str, Any], asyncio.Future[Instance]]] = []
        stored = self.controller.state.instances
        pending: dict[tuple[str, str], Instance] = {}
        """Accepted earlier in this batch (the same instance twice: the second changes it)."""
        held: dict[str, int] = {}
        for wanted, document, registration, future in batch:
            try:
                self._refuse_static(document, wanted.endpoint)
                current = pending.get(wanted.key) or stored.get(wanted.key)
                if current is None:
                    if wanted.service not in held:
                        held[wanted.service] = sum(1 for s, _ in stored if s == wanted.service)
                    if held[wanted.service] >= registration.max_instances:
                        raise InstanceLimit(
                            f"Service {wanted.service!r} holds {held[wanted.service]} "
                            "registered instances, its `registration.maxInstances`; deregister "
                            "one, or raise maxInstances"
                        )
                    held[wanted.service] += 1
                else:
                    wanted = replace(
                        wanted, registered_at=current.registered_at, lease=current.lease
                    )
            except (RegistrationError, InstanceLimit) as exc:
                if not future.done():  # its caller may have gone
                    future.set_exception(exc)
                continue
            pending[wanted.key] = wanted
            what = "registered" if current is None else "registered again"
            change = entry(
                wanted.by,
                f"instance {wanted.endpoint} of {wanted.service} {what}",
                "absent" if current is None else current.state,
                _describe(wanted),
            )
            accepted.append((wanted, change, future))
        return accepted

    # --- renewals, saved together -------------------------------------------------

    async def _renew(self, renewed: Instance) -> bool:
        """Save one renewal with the others that arrive meanwhile; False when the instance is
        no longer as renewed (deregistered or expired meanwhile: registered anew instead)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((renewed, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self.controller.store.renew_instances([i for i, _ in batch])
            except StoreError as exc:
                self.controller._store_failed(exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.controller._store_ok()
            instances = self.controller.state.instances
            for (instance, future), saved in zip(batch, results, strict=True):
                current = instances.get(instance.key)
                kept = saved and current is not None and current.revision == instance.revision
                if kept and current is not None and not current.draining:
                    instances[instance.key] = replace(
                        current, renewed_at=instance.renewed_at, expires_at=instance.expires_at
                    )
                    self.renewals_total += 1
                if not future.done():
                    future.set_result(kept)

    # --- leaving --------------------------------------------------------------------

    async def sweep(self) -> list[Instance]:
        """Remove the instances whose TTL or drain ran out (the store does it on etcd)."""
        if self.controller.store.shared:
            return []
        now = self.clock()
        due = [i for i in self.controller.state.instances.values() if i.expires_at <= now]
        if not due:
            return []
        removed = []
        async with self.controller._lock:
            for instance in due:
                current = self.controller.state.instances.get(instance.key)
                if current is None or current.expires_at > now:
                    continue  # renewed meanwhile
                revision = await self._write(self.controller.store.delete_instance(*instance.key))
                del self.controller.state.instances[instance.key]
                self.controller.instances_changed({instance.service})
                self.controller.state.revision = max(self.controller.state.revision, revision)
                removed.append(current)
            if removed and self.controller.state.base is not None:
                await self.controller._publish(time.monotonic())
        for instance in removed:
            await self._record_leaving(instance)
        return removed

    async def _record_leaving(self, instance: Instance) -> None:
        if instance.draining:
            what, before = "left after its drain", "draining"
        else:
            self.expired_total += 1
            what = f"expired: not renewed within its TTL of {instance.ttl:g}s"
            before = "serving"
        await self.controller.history.record(
            "registration", f"instance {instance.endpoint} of {instance.service} {what}", before,
            "absent",
        )  # fmt: skip

    async def _reloaded(
        self, before: dict[tuple[str, str], Instance], after: dict[tuple[str, str], Instance]
    ) -> None:
        """The store was read again: instances another replica removed, or whose lease etcd
        let expire, are gone; the history records each once."""
        gone = [i for key, i in before.items() if key not in after]
        if not gone or (self.records_expiry is not None and not await self.records_expiry()):
            return
        for instance in gone:
            if instance.draining or instance.expires_at <= self.clock() + 1.0:
                await self._record_leaving(instance)

    async def run(self) -> None:
        """Sweep until cancelled."""
        while True:
            try:
                await self.sweep()
            except StoreError as exc:
                log.error("could not remove expired instances; trying again: %s", exc)
            except Exception:
                log.exception("sweeping the registered instances failed; trying again")
            await asyncio.sleep(SWEEP_SECONDS)

    # --- helpers ----------------------------------------------------------------------

    async def _write(self, write: Awaitable[T]) -> T:
        try:
            result = await write
        except StoreError as exc:
            self.controller._store_failed(exc)
            raise
        self.controller._store_ok()
        return result

    @staticmethod
    def _warnings(document: Service, labels: Mapping[str, str]) -> tuple[str, ...]:
        subsets = unmatched_subsets(document, labels)
        if subsets is None:
            return ()
        given = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "no labels"
        return (
            f"the labels ({given}) match none of the subsets of Service {document.name!r}: "
            f"{'; '.join(subsets)}. The instance gets the Service's own traffic only; "
            "register it with the labels of the subset it belongs to",
        )

    @staticmethod
    def _refuse_static(document: Service, key: str) -> None:
        static = {endpoint_key(e.address, e.port) for e in document.spec.endpoints}
        if key in static:
            raise RegistrationError(
                f"{key} is listed in the `endpoints` of Service {document.name!r}; register "
                "instances at other addresses, or remove it from the YAML first"
            )


def _describe(instance: Instance) -> str:
    labels = " ".join(f"{k}={v}" for k, v in sorted(instance.labels.items()))
    parts = [p for p in (labels, f"zone={instance.zone}" if instance.zone else "") if p]
    parts.append(f"weight={instance.weight}")
    parts.append(f"ttl={instance.ttl:g}s")
    return " ".join(parts)


class InstanceCollector(Collector):
    """`breakwater_instances{service,state}` and the renewal and expiry counters."""

    def __init__(self, registry: InstanceRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        instances = GaugeMetricFamily(
            "breakwater_instances",
            "Registered instances by Service and state (serving, draining).",
            labels=["service", "state"],
        )
        counts: dict[tuple[str, str], int] = {}
        state = self._registry.controller.state
        for instance in state.instances.values():
            key = (instance.service, instance.state)
            counts[key] = counts.get(key, 0) + 1
        base = state.base
        for name, document in sorted(base.services.items()) if base is not None else []:
            if document.spec.registration is not None:
                for which in ("serving", "draining"):
                    counts.setdefault((name, which), 0)
        for (service, which), count in sorted(counts.items()):
            instances.add_metric([service, which], count)
        yield instances
        renewals = CounterMetricFamily(
            "breakwater_instance_renewals", "Registrations renewed (nothing served changed)."
        )
        renewals.add_metric([], self._registry.renewals_total)
        yield renewals
        expired = CounterMetricFamily(
            "breakwater_instance_expirations",
            "Registered instances removed because they were not renewed within their TTL.",
        )
        expired.add_metric([], self._registry.expired_total)
        yield expired
