"""Make-before-break, as pure functions of what one proxy holds and what the snapshot asks for.

Envoy applies each type as it arrives. A route that names a cluster the
proxy does not have yet answers 503 until the cluster shows up, and a
cluster removed while an accepted route still names it does the same. So:

* A listener or route update that points at a cluster the proxy has not
  ACKed (or at endpoints, served by us, that it has not ACKed) is *held
  back*: the proxy keeps the previous version, or gets nothing yet if it
  had none. The hold lasts at most ``timeout`` seconds, because a cluster
  the proxy rejected would otherwise block every later route change.
* A cluster gone from the snapshot is *kept* on the proxy while a listener
  or route it ACKed still names it, and with it the endpoints it uses.

Everything here works from one stream's :class:`Subscription` objects and a
snapshot, takes the clock as an argument and changes nothing, so the rules
can be tested without gRPC and the stream decides what to do with the
answer (update its state, arm a timer, log).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    Resource,
    Selection,
    Snapshot,
)
from .subscription import Subscription

Subscriptions = Mapping[str, Subscription]
"""One stream's subscriptions, by type URL."""

HELD_TYPES: frozenset[str] = frozenset({LISTENER_TYPE, ROUTE_TYPE})
"""Types whose updates wait for the clusters they name."""


@dataclass(frozen=True, slots=True)
class Hold:
    """The ordering verdict on one listener or route selection."""

    held: Mapping[str, Resource | None]
    """Names that wait, each with what the proxy keeps meanwhile (``None``: nothing yet)."""
    since: float | None
    """When the hold began (the caller keeps it as ``held_since``); ``None`` once nothing waits."""
    wait: float | None = None
    """Seconds until the hold runs out, while something is held."""
    overdue: tuple[str, ...] = ()
    """Names sent although their clusters are still not ACKed: the timeout ran out."""


_NO_HOLD = Hold(MappingProxyType({}), None)


def kept_clusters(types: Subscriptions, snapshot: Snapshot) -> frozenset[str]:
    """Clusters gone from the snapshot that listeners or routes the proxy ACKed still use.

    Only clusters the proxy was sent count, and the members of a kept
    aggregate cluster are kept with it.
    """
    cds = types.get(CLUSTER_TYPE)
    if cds is None:
        return frozenset()
    available = snapshot.resources(CLUSTER_TYPE)
    pending: list[str] = []
    for type_url in (LISTENER_TYPE, ROUTE_TYPE):
        state = types.get(type_url)
        if state is None:
            continue
        for name, resource in state.acked.items():
            if state.subscribed(name):
                pending.extend(resource.refs_of(CLUSTER_TYPE))
    kept: set[str] = set()
    while pending:
        name = pending.pop()
        if name in available or name in kept:
            continue
        previous = cds.sent.get(name)
        if previous is None:
            continue
        kept.add(name)
        pending.extend(previous.refs_of(CLUSTER_TYPE))  # members of an aggregate
    return frozenset(kept)


def keep(
    state: Subscription, types: Subscriptions, selection: Selection, kept: frozenset[str]
) -> Selection:
    """``selection`` plus the kept clusters (for CDS) or their endpoints (for EDS).

    ``kept`` comes from :func:`kept_clusters`; other types pass unchanged.
    """
    changes: dict[str, Resource | None] = {}
    if state.type_url == CLUSTER_TYPE:
        for name in kept:
            previous = state.sent.get(name)
            if previous is not None and state.subscribed(name):
                changes[name] = previous
    elif state.type_url == ENDPOINT_TYPE and kept:
        clusters = types[CLUSTER_TYPE].sent
        for cluster_name in kept:
            cluster = clusters.get(cluster_name)
            for name in cluster.refs_of(ENDPOINT_TYPE) if cluster else ():
                previous = state.sent.get(name)
                if name not in selection.resources and previous and state.subscribed(name):
                    changes[name] = previous
    return with_changes(selection, changes)


class SharedVerdicts:
    """:func:`ready` and :func:`kept_clusters` answers remembered for streams whose sent and
    ACKed mappings are shared and frozen.

    State of the World streams of one group that ACKed the same responses hold
    the very same ``acked`` mappings (the snapshot's selections, never
    copied), so whether a route is ready is one question per set of references,
    cluster and endpoint mappings of the snapshot and pair of ACKed mappings, not
    one per stream; and a snapshot that changed only routes keeps its cluster and
    endpoint mappings (`Snapshot(previous=...)`), so a route whose references did
    not change is not walked again. A push to 10 000
    such streams then walks each route's cluster references once.

    A mapping is keyed by its version, never held: a State of the World
    stream's ``sent`` and ``acked`` mappings are selections, whose version is
    a hash of their names and their resources' contents, and so are a
    snapshot's types. An entry holds only the route's set of references (keyed
    by identity, so that the set a weight change hands on answers at once):
    were it to hold the ACKed mappings, every weight written would keep the
    route configuration before it alive (6 MB at 10 000 services) until 256
    entries later. Delta streams mutate their mappings in place and must not
    use this.
    """

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._entries: OrderedDict[Hashable, tuple[object, tuple[object, ...]]] = OrderedDict()

    def ready(self, resource: Resource, types: Subscriptions, snapshot: Snapshot) -> bool:
        cds = types.get(CLUSTER_TYPE)
        if cds is None:
            return True
        eds = types.get(ENDPOINT_TYPE)
        # What `ready` reads: a route changed in its weights keeps its references (the
        # very same set) and the snapshot its cluster and endpoint versions, so the
        # verdict of the route before answers for it.
        key = (
            "ready",
            id(resource.refs),
            snapshot.type_version(CLUSTER_TYPE),
            snapshot.type_version(ENDPOINT_TYPE),
            cds.acked_version,
            eds.acked_version if eds is not None else None,
            cds.wildcard,
            cds.names,
            eds.names if eds is not None else None,
        )
        found = self._entries.get(key)
        if found is not None:
            return bool(found[0])
        verdict = ready(resource, types, snapshot)
        self._remember(key, verdict, (resource.refs,))
        return verdict

    def kept(self, types: Subscriptions, snapshot: Snapshot) -> frozenset[str]:
        """:func:`kept_clusters`, remembered per snapshot, sent clusters and ACKed routes."""
        cds = types.get(CLUSTER_TYPE)
        if cds is None:
            return frozenset()
        key: list[Hashable] = ["kept", snapshot.type_version(CLUSTER_TYPE), cds.sent_version]
        for type_url in (LISTENER_TYPE, ROUTE_TYPE):
            state = types.get(type_url)
            if state is not None:
                key += [type_url, state.acked_version, state.wildcard, state.names]
        found = self._entries.get(tuple(key))
        if found is not None and isinstance(found[0], frozenset):
            return found[0]
        kept = kept_clusters(types, snapshot)
        self._remember(tuple(key), kept, ())
        return kept

    def _remember(self, key: Hashable, verdict: object, held: tuple[object, ...]) -> None:
        self._entries[key] = (verdict, held)
        if len(self._entries) > self._limit:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def hold_back(
    state: Subscription,
    types: Subscriptions,
    selection: Selection,
    snapshot: Snapshot,
    *,
    now: float,
    timeout: float,
    verdicts: SharedVerdicts | None = None,
) -> Hold:
    """Which listener or route updates in ``selection`` must wait for their clusters.

    ``now`` is a monotonic time, compared with ``state.held_since``. Once
    ``timeout`` has passed since the hold began, nothing is held and
    :attr:`Hold.overdue` names what goes out regardless. ``verdicts``, for
    streams whose ACKed mappings are shared, answers :func:`ready` from memory.
    """
    is_ready = ready if verdicts is None else verdicts.ready
    if selection.version == state.sent_version:
        return _NO_HOLD
    held: dict[str, Resource | None] = {}
    for name, resource in selection.resources.items():
        previous = state.sent.get(name)
        if previous is not None and previous.version == resource.version:
            continue
        if not is_ready(resource, types, snapshot):
            held[name] = previous
    if not held:
        return _NO_HOLD
    since = now if state.held_since is None else state.held_since
    remaining = since + timeout - now
    if remaining > 0:
        return Hold(held, since, remaining)
    return Hold(_NO_HOLD.held, since, overdue=tuple(sorted(held)))


def ready(resource: Resource, types: Subscriptions, snapshot: Snapshot) -> bool:
    """Whether the proxy ACKed every cluster ``resource`` points at, and their endpoints.

    A name missing from the snapshot does not count: a dangling reference
    will not resolve by waiting. Without a CDS subscription there is
    nothing to wait for, nor for a cluster (or endpoints) the proxy has not
    subscribed to by name: a gRPC client asks for a cluster only once it
    holds the route that names it.
    """
    return _ready(resource, types, snapshot, set())


def _ready(resource: Resource, types: Subscriptions, snapshot: Snapshot, seen: set[str]) -> bool:
    cds = types.get(CLUSTER_TYPE)
    if cds is None:
        return True
    eds = types.get(ENDPOINT_TYPE)
    clusters = snapshot.resources(CLUSTER_TYPE)
    endpoints = snapshot.resources(ENDPOINT_TYPE)
    for name in resource.refs_of(CLUSTER_TYPE):
        cluster = clusters.get(name)
        if cluster is None or name in seen:
            continue
        seen.add(name)
        if not cds.subscribed(name):
            continue  # asked for by name (a gRPC client) once it holds the route that names it
        if name not in cds.acked:
            return False
        for eds_name in cluster.refs_of(ENDPOINT_TYPE):
            if eds_name not in endpoints:
                continue
            if not cds.wildcard and eds is not None and not eds.subscribed(eds_name):
                continue  # likewise for endpoints; Envoy (wildcard CDS) waits for them
            if eds is None or eds_name not in eds.acked:
                return False
        if not _ready(cluster, types, snapshot, seen):
            return False
    return True


def with_changes(selection: Selection, changes: Mapping[str, Resource | None]) -> Selection:
    """``selection`` with some names replaced (``None``: left out); itself if none are."""
    if not changes:
        return selection
    merged = dict(selection.resources)
    for name, replacement in changes.items():
        if replacement is None:
            del merged[name]
        else:
            merged[name] = replacement
    return Selection(selection.type_url, MappingProxyType(merged))


__all__ = [
    "HELD_TYPES",
    "Hold",
    "SharedVerdicts",
    "Subscriptions",
    "hold_back",
    "keep",
    "kept_clusters",
    "ready",
    "with_changes",
]
