"""What the control plane currently believes: the last good policies, the overrides, and what went wrong.

Two inputs change it, the policy source (a directory, or Kubernetes) and API writes; both end in one
place (`_publish`) that lays the overrides over the YAML and hands the
result to the subscribers the composition root gave it (the reconciler that
translates and serves it, the metrics). An invalid directory changes
nothing that is serving: the last good PolicySet stays, and the errors are
kept for status and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from breakwater.controlplane.state.decode_cache import DecodeCache
from breakwater.controlplane.state.documents import DocumentStatus
from breakwater.controlplane.state.drain_views import EndpointView, endpoint_views
from breakwater.controlplane.state.history import History, describe_weights
from breakwater.controlplane.state.instances import Instance
from breakwater.controlplane.state.overlay import overlay
from breakwater.controlplane.state.policy_source import DirectorySource, PolicySource, SourceRead
from breakwater.controlplane.state.rollout_rules import driving_rollout
from breakwater.controlplane.state.store import (
    Drain,
    RevisionConflict,
    Store,
    StoreError,
    WeightOverride,
)
from breakwater.controlplane.state.weight_source import WeightSource
from breakwater.translators.drains import (
    EndpointNotFound,
    check_endpoint,
    parse_endpoint,
)
from breakwater.translators.errors import PolicyError
from breakwater.translators.overrides import (
    DroppedOverride,
    WeightError,
    check_weights,
    resolve_rule,
    rule_labels,
)
from breakwater.translators.pipeline import PolicyReader
from breakwater.translators.policyset import PolicySet
from breakwater.translators.registration import RegisteredServices

InstanceWatcher = Callable[
    [dict[tuple[str, str], Instance], dict[tuple[str, str], Instance]], Awaitable[None]
]
"""Told of the registered instances before and after the store was read again (another replica
wrote, or etcd let an instance's lease expire)."""

log = logging.getLogger(__name__)


MAX_DROPPED = 50


class NotReady(Exception):
    """No valid policy set has been loaded yet."""


class DrivenByRollout(Exception):
    """A Rollout drives this rule's weights; the message names it and says what to do."""


@dataclass(frozen=True)
class RuleWeightsView:
    route: str
    rule: int
    weights: dict[str, int]
    source: WeightSource
    revision: int
    rule_name: str | None = None
    """The rule's name in the YAML, when it has one."""


@dataclass
class PolicyState:
    """The last good YAML, the overrides from the store, and the PolicySet that results."""

    base: PolicySet | None = None
    effective: PolicySet | None = None
    overrides: dict[tuple[str, int], WeightOverride] = field(default_factory=dict)
    applied: frozenset[tuple[str, int]] = frozenset()
    """The (route, rule) overrides laid over the YAML in `effective`. A shared store keeps an
    override that no longer fits (another replica may read files it fits), so being in
    `overrides` is not being served."""
    drains: dict[tuple[str, str], Drain] = field(default_factory=dict)
    """(service, ADDRESS:PORT) → the drain written through the API, applied or not."""
    instances: dict[tuple[str, str], Instance] = field(default_factory=dict)
    """(service, ADDRESS:PORT) → a registered instance, served or not (see `registration`)."""
    registered: PolicySet | None = None
    """The YAML's PolicySet with the registered instances laid over it: the endpoints a drain
    may name, before overrides and drains."""
    revision: int = 0
    documents: list[DocumentStatus] = field(default_factory=list)
    load_errors: list[PolicyError] = field(default_factory=list)
    dropped: list[DroppedOverride] = field(default_factory=list)
    """Overrides dropped since the rule was last written (newest last, at most MAX_DROPPED)."""
    drops_total: int = 0
    policy_version: str = ""
    changed_at: float = 0.0
    """Monotonic time of the change that produced `effective`, for change-to-ACK latency."""
    store_error: str | None = None
    """Why the last write to the store failed; None again once a write succeeds."""
    store_error_since: float | None = None
    """Wall-clock time of the first failure in the current run of failures."""
    store_write_failures: int = 0

    def weight_source(self, route: str, rule: int) -> WeightSource:
        """Where the served weights of a rule come from; the API and the metrics both ask here."""
        return "override" if (route, rule) in self.applied else "yaml"


class PolicySubscriber:
    """What the controller tells the rest of the control plane; override what you need.

    The controller knows its subscribers only through these hooks, so the
    state room never reaches into translation, serving or metrics. Hooks run
    under the controller's lock, before an API write is answered: keep them
    quick, and do slow work (translation) as a later step of your own.
    Exceptions propagate to whoever caused the change.
    """

    def on_policies(self, policyset: PolicySet, changed_at: float) -> None:
        """A new effective PolicySet; ``changed_at`` is the monotonic time of its cause."""

    def on_load_error(self, errors: list[PolicyError]) -> None:
        """A reload was refused for these errors; the last good PolicySet stays."""


KEEP_DECODED_AFTER = 30.0
"""Seconds without a reload before decoded files are written to the decode cache (and at
shutdown): the first translation and the edits that follow a start go first."""


class PolicyController:
    """Owns PolicyState; serializes reloads and writes so that they never interleave."""

    def __init__(
        self, source: Path | PolicySource, store: Store, decode_cache: DecodeCache | None = None
    ) -> None:
        """`decode_cache`: decoded files kept between runs (in the state directory)."""
        self.source: PolicySource = DirectorySource(source) if isinstance(source, Path) else source
        self.store = store
        self.state = PolicyState()
        self.history = History(store)
        self.rollouts: dict[str, dict[str, Any]] = {}
        """Each rollout's progress as last read from or written to the store."""
        self.rollout_revisions: dict[str, int] = {}
        """The store's revision of each progress in `rollouts` (compare-and-set compares it)."""
        self._subscribers: list[PolicySubscriber] = []
        self._instance_watchers: list[InstanceWatcher] = []
        self._lock = asyncio.Lock()
        self._registered = RegisteredServices()
        self._instances_changed: set[str] | None = None
        """The Services whose registered instances changed since the last publish (None: any
        may have, as after reading the store): only theirs are laid over the YAML again."""
        self._reader = PolicyReader(decode_cache, compact=True)
        """Remembers each file's decoded documents: a reload decodes only the files that changed."""
        self._decode_cache = decode_cache
        self.freeze_reads = False
        """Leave what each read made out of garbage collections (`gc.freeze`): for a server
        that has its process to itself."""
        self._keeping: asyncio.Task[None] | None = None
        self._keep_due = 0.0

    def subscribe(self, subscriber: PolicySubscriber) -> None:
        """Hear of every PolicySet published and every reload refused from now on."""
        self._subscribers.append(subscriber)

    def instances_changed(self, services: set[str]) -> None:
        """The registry changed these Services' instances: the next publish lays them over
        the YAML again (the others keep what was built for them)."""
        if self._instances_changed is not None:
            self._instances_changed |= services

    def watch_instances(self, watcher: InstanceWatcher) -> None:
        """Hear of the instances each time the store is read again."""
        self._instance_watchers.append(watcher)

    # --- reading files -----------------------------------------------------

    def _read(self) -> SourceRead:
        """One read of the source, in a worker thread. Decoding (or loading from the decode
        cache) and merging make millions of objects that live on, and no cycles: the cyclic
        collector would walk them again and again, so it waits until the read is done."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            read = self.source.read(self._reader)
            if self.freeze_reads:
                # What was read lives until the source changes: leave it out of collections
                # (re-enabled with millions of new objects counted, the collector would
                # otherwise walk them all at the next allocation).
                gc.freeze()
        finally:
            if enabled:
                gc.enable()
        return read

    async def reload(self) -> bool:
        """Read the source; publish when valid. Returns whether what was read was taken."""
        async with self._lock:
            changed_at = time.monotonic()
            read = await asyncio.to_thread(self._read)
            policyset, errors, documents, version = (
                read.policyset,
                read.errors,
                read.documents,
                read.version,
            )
            self.state.documents = documents
            self.state.load_errors = errors
            if policyset is None:
                log.error(
                    "policies from %s have %d errors; still serving version %s:\n%s",
                    self.source.describe(),
                    len(errors),
                    self.state.policy_version or "(none)",
                    "\n".join(str(e) for e in errors),
                )
                for subscriber in self._subscribers:
                    subscriber.on_load_error(errors)
                return False
            self.state.base = policyset
            before, self.state.policy_version = self.state.policy_version, version
            await self._publish(changed_at)
            self._keep_decoded()
            if before != version:
                await self.history.record(
                    self.source.what,
                    f"{self.source.what} reloaded ({len(documents)} documents)",
                    before or "-",
                    version,
                )
            return True

    def _keep_decoded(self) -> None:
        """Write the files decoded since the last write to the decode cache once reads have
        been quiet for a while, in a worker thread: pickling a large directory holds the GIL
        for seconds, which the proxies and the next edits should not wait for."""
        cache = self._decode_cache
        if cache is None:
            return
        self._keep_due = time.monotonic() + KEEP_DECODED_AFTER
        if self._keeping is not None and not self._keeping.done():
            return

        async def keep() -> None:
            while (wait := self._keep_due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await asyncio.to_thread(cache.flush)

        self._keeping = asyncio.get_running_loop().create_task(keep(), name="keep decoded files")

    async def close(self) -> None:
        """Write what the decode cache still has to keep, now: a restart right after a
        start finds it too."""
        keeping, self._keeping = self._keeping, None
        if keeping is not None:
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeping
        if self._decode_cache is not None:
            await asyncio.to_thread(self._decode_cache.flush)

    async def load_store(self) -> None:
        """Read every override from the store (at startup, or when another replica wrote)."""
        async with self._lock:
            stored = await self.store.load()
            self.state.overrides = dict(stored.overrides)
            self.state.drains = dict(stored.drains)
            before = self.state.instances
            self.state.instances = dict(stored.instances)
            self._instances_changed = None
            self.state.revision = stored.revision
            self.rollouts = dict(stored.rollouts)
            self.rollout_revisions = dict(stored.rollout_revisions)
            if self.state.base is not None:
                await self._publish(time.monotonic())
        for subscriber in self._instance_watchers:
            await subscriber(before, self.state.instances)

    async def _publish(self, changed_at: float) -> None:
        assert self.state.base is not None
        instances = [i.served() for i in self.state.instances.values()]
        changed, self._instances_changed = self._instances_changed, set()
        base = self.state.registered = self._registered.apply(self.state.base, instances, changed)
        effective, dropped = overlay(
            base, self.state.overrides.values(), self.state.drains, self.rollouts, instances
        )
        dropped_now = {(d.route, d.rule) for d in dropped}
        for key in [(d.route, d.rule) for d in self.state.dropped]:
            if key in self.state.overrides and key not in dropped_now:
                self._forget_drop(*key)  # kept in a shared store, and it fits the YAML again
        forget: list[DroppedOverride] = []
        for item in dropped:
            if self._is_dropped(item.route, item.rule):
                continue  # already reported (a shared store keeps it: see below)
            self.state.dropped.append(item)
            self.state.drops_total += 1
            log.warning(
                "weight override for %s rule %d no longer fits the YAML and was dropped: %s",
                item.route,
                item.rule,
                item.reason,
            )
            if self.store.shared:
                # Another replica may already read newer files that fit the override;
                # deleting it from the shared store would undo an operator's write.
                continue
            self.state.overrides.pop((item.route, item.rule), None)
            forget.append(item)
        # The served state changes in one step, before anything is awaited: a read between
        # two awaits must never see an override gone from `overrides` but still `applied`.
        self.state.effective = effective
        self.state.applied = frozenset(self.state.overrides) - dropped_now
        self.state.changed_at = changed_at
        for subscriber in self._subscribers:
            subscriber.on_policies(effective, changed_at)
        for item in forget:
            try:
                self.state.revision = await self.store.delete_weights(item.route, item.rule)
            except StoreError as exc:
                log.error("could not remove the dropped override from the store: %s", exc)

    def _store_failed(self, exc: StoreError) -> None:
        """Remember why writes fail, for status and metrics; what is served does not change."""
        if self.state.store_error is None:
            self.state.store_error_since = time.time()
            log.error(
                "the state store refused a write; weight changes are refused until it takes "
                "writes again, and the current config keeps serving: %s",
                exc,
            )
        self.state.store_error = str(exc)
        self.state.store_write_failures += 1

    def _store_ok(self) -> None:
        if self.state.store_error is not None:
            log.info("the state store takes writes again")
        self.state.store_error = None
        self.state.store_error_since = None

    def _is_dropped(self, route: str, rule: int) -> bool:
        return any((d.route, d.rule) == (route, rule) for d in self.state.dropped)

    def _forget_drop(self, route: str, rule: int) -> None:
        """A rule written again (or dropped again) no longer needs its old drop reported."""
        kept = [d for d in self.state.dropped if (d.route, d.rule) != (route, rule)]
        self.state.dropped = kept[-(MAX_DROPPED - 1) :]

    # --- weights ---------------------------------------------------------------

    def _base(self) -> PolicySet:
        if self.state.base is None:
            raise NotReady("no valid policy set is loaded yet; fix the policy files and try again")
        return self.state.base

    def get_weights(self, route: str, rule: int | str | None) -> RuleWeightsView:
        """`rule`: its index or its name; None: the first rule with more than one backend."""
        base = self._base()
        index = resolve_rule(base, route, rule)
        http_rule = base.routes[route].spec.rules[index]
        if self.state.weight_source(route, index) == "override":
            override = self.state.overrides[(route, index)]
            return RuleWeightsView(
                route, index, dict(override.weights), "override", override.revision, http_rule.name
            )
        labels = rule_labels(http_rule)
        weights = {label: b.weight for label, b in zip(labels, http_rule.backends, strict=True)}
        return RuleWeightsView(route, index, weights, "yaml", 0, http_rule.name)

    def _refuse_if_driven(self, base: PolicySet, route: str, index: int, by: str | None) -> None:
        name = driving_rollout(base, self.rollouts, route, index)
        if name is not None and name != by:
            phase = self.rollouts[name].get("phase")
            raise DrivenByRollout(
                f"Rollout {name!r} drives the weights of HTTPRoute {route!r} rule {index} "
                f"({phase}); `breakwater rollout abort {name}` or let it finish, then write "
                "the weights"
            )

    async def put_rollout(
        self,
        name: str,
        progress: dict[str, Any],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> None:
        """Save a rollout's progress (see `Store.put_rollout`); a header route it turns on or off
        is served at once."""
        async with self._lock:
            try:
                revision = await self.store.put_rollout(name, progress, expected_revision, claim)
            except StoreError as exc:
                self._store_failed(exc)
                raise
            self._store_ok()
            before = self.rollouts.get(name, {})
            self.rollouts[name] = progress
            self.rollout_revisions[name] = revision
            self.state.revision = max(self.state.revision, revision)
            if self.state.base is not None and before.get("header_route") != progress.get(
                "header_route"
            ):
                await self._publish(time.monotonic())

    async def set_weights(
        self,
        route: str,
        rule: int | str | None,
        weights: dict[str, int],
        expected_revision: int | None,
        *,
        by_rollout: str | None = None,
        who: str = "api",
    ) -> RuleWeightsView:
        async with self._lock:
            base = self._base()
            index = resolve_rule(base, route, rule)
            self._refuse_if_driven(base, route, index, by_rollout)
            check_weights(base, route, index, weights)
            before = self.get_weights(route, index)
            try:
                stored = await self.store.put_weights(
                    route, index, dict(weights), expected_revision,
                    f"rollout/{by_rollout}" if by_rollout else None,  # only while it drives
                )  # fmt: skip
            except StoreError as exc:
                self._store_failed(exc)
                raise
            self._store_ok()
            changed_at = time.monotonic()
            self.state.overrides[(route, index)] = stored
            self._forget_drop(route, index)
            self.state.revision = max(self.state.revision, stored.revision)
            await self._publish(changed_at)
        await self.history.record(
            f"rollout {by_rollout}" if by_rollout else who,
            f"weights of {route} rule {index} set",
            describe_weights(before.weights),
            describe_weights(weights),
            route=route,
            rule=index,
        )
        name = base.routes[route].spec.rules[index].name
        return RuleWeightsView(route, index, dict(weights), "override", stored.revision, name)

    async def reset_weights(
        self,
        route: str,
        rule: int | str | None,
        expected_revision: int | None,
        *,
        who: str = "api",
    ) -> RuleWeightsView:
        async with self._lock:
            base = self._base()
            index = resolve_rule(base, route, rule)
            self._refuse_if_driven(base, route, index, None)
            before = self.get_weights(route, index)
            try:
                revision = await self.store.delete_weights(route, index, expected_revision)
            except StoreError as exc:
                self._store_failed(exc)
                raise
            self._store_ok()
            changed_at = time.monotonic()
            self.state.overrides.pop((route, index), None)
            self._forget_drop(route, index)
            self.state.revision = max(self.state.revision, revision)
            await self._publish(changed_at)
        after = self.get_weights(route, index)
        await self.history.record(
            who,
            f"weights of {route} rule {index} reset to the YAML",
            describe_weights(before.weights),
            describe_weights(after.weights),
            route=route,
            rule=index,
        )
        return after

    # --- endpoint drains ---------------------------------------------------------

    def _served_base(self) -> PolicySet:
        """The YAML's PolicySet with the registered instances: what drains are checked against."""
        self._base()
        assert self.state.registered is not None
        return self.state.registered

    def endpoints(self, service: str) -> list[EndpointView]:
        return endpoint_views(self._served_base(), self.state.drains, service)

    def _endpoint(self, service: str, endpoint: str) -> EndpointView:
        return next(v for v in self.endpoints(service) if v.endpoint == endpoint)

    async def drain(
        self, service: str, endpoint: str, expected_revision: int | None, *, who: str = "api"
    ) -> EndpointView:
        """Take an endpoint out of rotation: Envoy gets it as DRAINING once this returns."""
        async with self._lock:
            key = check_endpoint(self._served_base(), service, endpoint)
            drain = Drain(service, key, who, time.time())
            await self._write_drain(drain, self.store.put_drain(drain, expected_revision))
        await self.history.record(
            who, f"endpoint {key} of {service} drained", "serving", "draining"
        )
        return self._endpoint(service, key)

    async def undrain(
        self, service: str, endpoint: str, expected_revision: int | None, *, who: str = "api"
    ) -> EndpointView:
        """Put an endpoint back in rotation, or forget the drain of one the YAML no longer lists."""
        async with self._lock:
            key = parse_endpoint(endpoint)
            if (service, key) not in self.state.drains:
                key = check_endpoint(self._served_base(), service, key)
            before = "draining" if (service, key) in self.state.drains else "serving"
            await self._write_drain(
                Drain(service, key, who, 0.0),
                self.store.delete_drain(service, key, expected_revision),
            )
        await self.history.record(who, f"endpoint {key} of {service} undrained", before, "serving")
        try:
            return self._endpoint(service, key)
        except (EndpointNotFound, StopIteration):  # the drain of an endpoint the YAML dropped
            return EndpointView(service, key, False, None)

    async def _write_drain(self, drain: Drain, write: Awaitable[Drain | int]) -> None:
        """Run the store write (a put gives the Drain, a delete the revision), then serve its
        result; the caller holds the lock."""
        try:
            stored = await write
        except StoreError as exc:
            self._store_failed(exc)
            raise
        self._store_ok()
        key = (drain.service, drain.endpoint)
        if isinstance(stored, Drain):
            self.state.drains[key] = stored
            revision = stored.revision
        else:
            self.state.drains.pop(key, None)
            revision = stored
        self.state.revision = max(self.state.revision, revision)
        await self._publish(time.monotonic())


__all__ = [
    "DrivenByRollout",
    "EndpointView",
    "NotReady",
    "PolicyController",
    "PolicySubscriber",
    "RevisionConflict",
    "RuleWeightsView",
    "StoreError",
    "WeightError",
    "driving_rollout",
]
