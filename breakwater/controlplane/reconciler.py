"""From a PolicySet to snapshots in the cache, once per node group, debounced.

A proxy's group key depends only on what the proxy says about itself
(`node.cluster` and the string values of `node.metadata`), never on the
policies, so a connected proxy keeps its key when gateways change. Each key
maps to the set of gateways that select it under the current policies, and
translation runs once per distinct gateway set: a thousand proxies of one
cluster cost one translation and share one Snapshot.

Two steps write the cache, and neither runs inside the hook that starts it:
a new PolicySet rebuilds every known group after the debounce, and a group
that appears (its first proxy identified itself) is built on the next turn
of the event loop, without waiting for the debounce, so that proxy gets its
config at once.

A group whose last stream ended is dropped after `NODE_GROUP_GRACE_SECONDS`
(its snapshot, and its place in every rebuild): group keys come from what
proxies say about themselves, so without this anyone who reaches the xDS
port could make the control plane hold and rebuild any number of groups.
Within the grace a proxy that reconnects is answered at once, from the
snapshot already built.

Translation never runs on the event loop: each build translates (and checks
for dangling references) in a worker thread, and only publishing the
finished snapshots to the cache, a few dictionary writes, happens on the
loop. Builds take one lock, each reads the PolicySet current when it starts,
and publish in the order they started, so a build of new groups and a
rebuild never publish an older PolicySet over a newer one.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Mapping

from breakwater.controlplane.debounce import Debouncer
from breakwater.controlplane.groups import GroupKey, ProxylessKey, group_zone, is_group_key
from breakwater.controlplane.limits import NODE_GROUP_GRACE_SECONDS
from breakwater.controlplane.state.controller import PolicySubscriber
from breakwater.controlplane.xds.cache import SnapshotCache, SnapshotError
from breakwater.controlplane.xds.resources import Ref, Snapshot
from breakwater.controlplane.xds.status import StreamStatus, XdsObserver
from breakwater.defaults import DEBOUNCE_CAP, DEBOUNCE_QUIET
from breakwater.translators.policyset import PolicySet
from breakwater.translators.proxyless import Proxyless
from breakwater.translators.snapshot import Translator, node_group

log = logging.getLogger(__name__)

LocalZones = tuple[tuple[str, int], ...]
"""Zone ("" for none) → how many proxies of one node cluster are in it."""
BuildKey = tuple[frozenset[str] | Proxyless, str | None, LocalZones]
"""A gateway set (for the proxies of one zone, with their node cluster's proxies by zone),
or a proxyless profile: what one snapshot is translated for."""
FREEZE_AFTER_PIECES = 1000
"""A build that translated at least this many pieces is frozen out of garbage collections."""


class Reconciler(PolicySubscriber):
    """Keeps every known group's snapshot in the cache in step with the latest PolicySet."""

    def __init__(
        self,
        cache: SnapshotCache,
        *,
        quiet: float = DEBOUNCE_QUIET,
        cap: float = DEBOUNCE_CAP,
        on_published: Callable[[float, dict[Hashable, Snapshot]], None] | None = None,
        group_grace: float = NODE_GROUP_GRACE_SECONDS,
        local_zones: Callable[[], Mapping[str, LocalZones]] | None = None,
        on_built: Callable[[PolicySet, dict[Hashable, Snapshot]], None] | None = None,
    ) -> None:
        """`on_built`: told of every group's snapshot in the cache after each build, with
        the PolicySet it was built from (changed or not), to keep them for a restart."""
        self.cache = cache
        self._on_built = on_built
        self._kept: set[Hashable] = set()
        """Groups served a snapshot kept from the last run that no build has replaced yet."""
        self._local_zones = local_zones or dict
        """Node cluster → its connected proxies by zone, for the clusters with proxies that
        named their zone: the local cluster zone-aware routing needs."""
        self._zoned_clusters: frozenset[str] = frozenset()
        self.group_grace = group_grace
        """Seconds a group nobody watches keeps its snapshot."""
        self._leaving: dict[Hashable, asyncio.TimerHandle] = {}
        """Groups whose last stream ended → the timer that drops them."""
        self.policyset: PolicySet | None = None
        self._policyset_changed_at = 0.0
        self.built_from: dict[Hashable, float] = {}
        """Group → when the change that made the PolicySet its snapshot comes from happened,
        recorded even when that snapshot came out the same as before: it says which changes
        a group's proxies hold once they are synced."""
        self._changed_at = 0.0
        self._debouncer = Debouncer(self._rebuild, quiet=quiet, cap=cap)
        self._new: set[Hashable] = set()
        """Groups that appeared and have no snapshot yet."""
        # No quiet period: every group seen in one turn of the loop is built in one step,
        # and never while another build of new groups runs.
        self._new_groups = Debouncer(self._build_new_groups, quiet=0.0, cap=0.0)
        self._on_published = on_published
        self.translations = 0
        """Snapshots of gateway sets built (each from cached pieces where it could)."""
        self._translator = Translator()
        self._built_for: PolicySet | None = None
        self._built: dict[BuildKey, Snapshot] = {}
        """The snapshot of each build key translated from `_built_for`."""
        self._last_built: dict[BuildKey, Snapshot] = {}
        """The snapshot of each build key of the PolicySet before `_built_for`, those
        without dangling references: the next one takes over its unchanged types (and their
        versions), and checks only the references they could have lost."""
        self._inconsistent: set[BuildKey] = set()
        """Build keys whose snapshot of `_built_for` has dangling references."""
        self._building = asyncio.Lock()
        """One build at a time: the builder's cache is not shared between threads, and
        snapshots are published in the order their PolicySets arrived."""
        self.last_error: str | None = None
        self.freeze_builds = False
        """Leave what a large build made out of later garbage collections (`gc.freeze`), as
        the server does with the policies it reads at start: for a server that has its
        process to itself."""

    @property
    def pieces_translated(self) -> int:
        """Resources and virtual hosts translated so far; every other piece came from the cache."""
        return self._translator.built

    def on_policies(self, policyset: PolicySet, changed_at: float) -> None:
        """Take a new PolicySet; known groups follow after the debounce quiet period.

        Groups still waiting for their first snapshot (their proxies came
        before any valid PolicySet, or their last one was refused) are built
        at once, as new groups.
        """
        self.policyset = policyset
        self._policyset_changed_at = changed_at
        self._changed_at = (
            changed_at if self._changed_at == 0.0 else min(self._changed_at, changed_at)
        )
        self._debouncer.signal()
        if self._new:
            self._new_groups.signal()

    def group_appeared(self, key: Hashable) -> None:
        """Queue a group that has no snapshot yet; the next step of the loop builds it.

        Called from a stream's identify hook, so it only records the key: a
        known group costs a dictionary lookup, and translation never runs in
        the hook.
        """
        leaving = self._leaving.pop(key, None)
        if leaving is not None:
            leaving.cancel()
        if key in self._new or self.cache.get_snapshot(key) is not None:
            return
        self._new.add(key)
        if self.policyset is not None:
            self._new_groups.signal()

    def group_left(self, key: Hashable) -> None:
        """A stream of the group ended; once none watches it, drop it after the grace."""
        if self.cache.watcher_count(key) > 0:
            return
        leaving = self._leaving.pop(key, None)
        if leaving is not None:
            leaving.cancel()
        loop = asyncio.get_running_loop()
        self._leaving[key] = loop.call_later(self.group_grace, self._drop_if_unwatched, key)

    def proxies_moved(self, key: Hashable) -> None:
        """A proxy of this group connected or left: when its node cluster has proxies that named
        their zone, the local cluster of every such group changes, after the debounce."""
        cluster = key[0] if is_group_key(key) else None  # type: ignore[index]
        if group_zone(key) is not None or cluster in self._zoned_clusters:
            self._debouncer.signal()

    def _drop_if_unwatched(self, key: Hashable) -> None:
        self._leaving.pop(key, None)
        if self.cache.watcher_count(key) > 0:
            return
        self.cache.clear_snapshot(key)
        self.built_from.pop(key, None)
        self._new.discard(key)
        log.debug("dropped node group %r: no proxy watched it for %g s", key, self.group_grace)

    def gateways_of(self, key: GroupKey | ProxylessKey) -> frozenset[str]:
        """The gateways a group's proxies serve; none for proxyless clients."""
        if self.policyset is None or isinstance(key, ProxylessKey):
            return frozenset()
        return node_group(self.policyset, key[0], dict(key[1]))

    async def flush(self) -> None:
        """Run every pending step now: new groups first, then a debounced rebuild."""
        await self._new_groups.flush()
        await self._debouncer.flush()

    async def close(self) -> None:
        for leaving in self._leaving.values():
            leaving.cancel()
        self._leaving.clear()
        await self._new_groups.close()
        await self._debouncer.close()

    async def _build_new_groups(self) -> None:
        """A connection was answered with nothing yet; give each new group its snapshot."""
        if self._new:
            await self._build(set(self._new), time.monotonic())

    async def _rebuild(self) -> None:
        changed_at = self._changed_at or time.monotonic()
        self._changed_at = 0.0
        await self._build(set(self.cache.groups()) | self._new, changed_at)

    def _snapshot_for(
        self,
        policyset: PolicySet,
        gateways: frozenset[str] | Proxyless,
        zone: str | None,
        local: LocalZones,
    ) -> Snapshot:
        """Translate a gateway set (or proxyless profile) once per PolicySet (and zone); groups
        with the same gateways share it."""
        if policyset is not self._built_for:
            clean = {k: v for k, v in self._built.items() if k not in self._inconsistent}
            self._last_built = clean or self._last_built
            self._built_for, self._built, self._inconsistent = policyset, {}, set()
            self._translator.next_generation()
        key = (gateways, zone, local)
        snapshot = self._built.get(key)
        if snapshot is None:
            previous = self._last_built.get(key)
            snapshot = _translated(self._translator, policyset, gateways, zone, local, previous)
            self._built[key] = snapshot
            self.translations += 1
        return snapshot

    def _translate_groups(
        self, policyset: PolicySet, keys: list[Hashable], local: Mapping[str, LocalZones]
    ) -> dict[Hashable, tuple[Snapshot, list[str]]]:
        """Each group's snapshot and its dangling references; runs in the worker thread."""
        checked: dict[int, list[str]] = {}
        out: dict[Hashable, tuple[Snapshot, list[str]]] = {}
        for key in keys:
            build: BuildKey
            if isinstance(key, ProxylessKey):
                build = (Proxyless(key.profile), None, ())
            else:
                group: GroupKey = key  # type: ignore[assignment]
                zone = group_zone(group)
                build = (
                    node_group(policyset, group[0], dict(group[1])),
                    zone,
                    local.get(group[0], ()) if zone is not None else (),
                )
            snapshot = self._snapshot_for(policyset, *build)
            if id(snapshot) not in checked:
                problems = _dangling(snapshot, self._last_built.get(build))
                checked[id(snapshot)] = problems
                if problems:  # never the base of a later quick look
                    self._inconsistent.add(build)
            out[key] = (snapshot, checked[id(snapshot)])
        return out

    async def _build(self, keys: set[Hashable], changed_at: float) -> None:
        """Put the current PolicySet's snapshot of each group in the cache.

        A new group stays new until that succeeds, so a group whose snapshot
        was refused is tried again with the next PolicySet.
        """
        async with self._building:
            policyset = self.policyset
            if policyset is None or not keys:
                return
            built_from = self._policyset_changed_at
            started, pieces, sets = time.perf_counter(), self.pieces_translated, self.translations
            local = dict(self._local_zones())
            self._zoned_clusters = frozenset(local)
            built = await asyncio.to_thread(self._translate_groups, policyset, list(keys), local)
            log.info(
                "translated %d gateway sets for %d node groups in %.3f s (%d resources and "
                "virtual hosts translated again, every other one reused)",
                self.translations - sets,
                len(keys),
                time.perf_counter() - started,
                self.pieces_translated - pieces,
            )
            published: dict[Hashable, Snapshot] = {}
            current: dict[Hashable, Snapshot] = {}
            for key, (snapshot, problems) in built.items():
                if key not in self._new and self.cache.get_snapshot(key) is None:
                    continue  # dropped while it was being built: nobody watches it
                if problems:
                    self.last_error = str(SnapshotError(key, problems))
                    log.error("not publishing an inconsistent snapshot: %s", self.last_error)
                    continue
                if self.cache.set_snapshot(key, snapshot, check=False):
                    published[key] = snapshot
                elif key in self._kept:
                    # The very versions of the kept snapshot: serve the build's instead, whose
                    # resources the translator holds anyway, so the kept copy can go.
                    self.cache.clear_snapshot(key)
                    self.cache.set_snapshot(key, snapshot, check=False)
                self._kept.discard(key)
                current[key] = snapshot
                self.built_from[key] = built_from
                self._new.discard(key)
                self.last_error = None
            if self.freeze_builds and self.pieces_translated - pieces >= FREEZE_AFTER_PIECES:
                # The pieces just built (and the PolicySet they come from) live until their
                # documents change; left to the collector, the next full collection walks
                # them all, holding the GIL for as long as the edit itself takes.
                gc.freeze()
            if published and self._on_published is not None:
                self._on_published(changed_at, published)
            if current and self._on_built is not None:
                self._on_built(policyset, current)

    def restore(self, snapshots: Mapping[Hashable, Snapshot]) -> None:
        """Serve snapshots kept from the last run on the same inputs until the first build
        replaces them (the same versions, when nothing changed: no proxy sees a change). A
        group no proxy comes back for is dropped after the grace, as one whose proxies left."""
        for key, snapshot in snapshots.items():
            self.cache.set_snapshot(key, snapshot, check=False)
            self._kept.add(key)
            self.group_left(key)


class NewGroups(XdsObserver):
    """Tells the reconciler of each stream's group when the stream identifies its node, and
    when it ends (so that a group nobody watches any more can be dropped).

    The hook runs inside that stream's identify step, which must stay quick:
    it only queues the key, and the reconciler builds the snapshot as its own
    step; the stream is already watching its group, so the snapshot wakes it.
    """

    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    def on_connect(self, stream: StreamStatus) -> None:
        self._reconciler.group_appeared(stream.group)
        self._reconciler.proxies_moved(stream.group)

    def on_disconnect(self, stream: StreamStatus) -> None:
        self._reconciler.group_left(stream.group)
        self._reconciler.proxies_moved(stream.group)


def local_zones(streams: Iterable[StreamStatus]) -> dict[str, LocalZones]:
    """Node cluster → its proxies by zone ("" for those that named none), for every node
    cluster with at least one proxy that named its zone."""
    counts: dict[str, dict[str, int]] = {}
    zoned: set[str] = set()
    for stream in streams:
        zone = group_zone(stream.group)
        if zone is not None:
            zoned.add(stream.node_cluster)
        by_zone = counts.setdefault(stream.node_cluster, {})
        by_zone[zone or ""] = by_zone.get(zone or "", 0) + 1
    return {cluster: tuple(sorted(counts[cluster].items())) for cluster in sorted(zoned)}


def _dangling(snapshot: Snapshot, previous: Snapshot | None = None) -> list[str]:
    """`snapshot.problems()`, which sorts every resource and reference to word them, only
    once a quick look found a reference to a resource that is not there.

    `previous` must have no dangling references (the caller passes only snapshots that
    passed this check). While no type lost a name against it, a reference `previous` held
    still resolves, so the quick look reads only what is new: it skips a type whose
    resources are `previous`'s (the same mapping), a resource made again with its earlier
    self's very set of references (as `route_patch` keeps it when the edited hosts name
    the same clusters), and of any other the references its earlier self did not have (a
    set difference, in C). A snapshot made by changing one weight no longer walks the
    route configuration's 20 000 references; one that lost a name looks at everything."""
    if previous is snapshot:
        return []
    lost = previous is None or any(
        snapshot.resources(t) is not previous.resources(t)
        and not snapshot.resources(t).keys() >= previous.resources(t).keys()
        for t in {*snapshot.type_urls, *previous.type_urls}
    )
    for type_url in snapshot.type_urls:
        resources = snapshot.resources(type_url)
        earlier = None if lost or previous is None else previous.resources(type_url)
        if earlier is resources:
            continue
        for name, resource in resources.items():
            refs: frozenset[Ref] = resource.refs
            before = None if earlier is None else earlier.get(name)
            if before is not None:
                if before is resource or before.refs is refs:
                    continue
                refs = refs - before.refs
            for ref_type, ref_name in refs:
                if ref_name not in snapshot.resources(ref_type):
                    return snapshot.problems()
    return []


def _translated(
    translator: Translator,
    policyset: PolicySet,
    gateways: frozenset[str] | Proxyless,
    zone: str | None = None,
    local: LocalZones = (),
    previous: Snapshot | None = None,
) -> Snapshot:
    """Translate and encode with the cyclic garbage collector paused.

    Translation allocates millions of short-lived, acyclic objects (freed by
    reference counting) next to a large long-lived heap (the PolicySet, the
    snapshots being served); left on, the collector walks that heap over and
    over. The first collection afterwards picks up whatever cycles were left.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return Snapshot(translator.translate(policyset, gateways, zone, local), previous)
    finally:
        if enabled:
            gc.enable()
