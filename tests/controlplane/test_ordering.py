"""Make-before-break decided by the pure ordering functions, without a stream or gRPC."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import pytest

from breakwater.controlplane.xds.ordering import (
    SharedVerdicts,
    Subscriptions,
    hold_back,
    keep,
    kept_clusters,
    ready,
    with_changes,
)
from breakwater.controlplane.xds.resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    Resource,
    Selection,
    Snapshot,
)
from breakwater.controlplane.xds.subscription import Subscription
from tests.controlplane import builders

ROUTE = "ingress-routes"
TIMEOUT = 5.0


def config(weights: Mapping[str, int], *, endpoints: Iterable[str] | None = None) -> Snapshot:
    """A cluster per backend in ``weights`` and a route over them.

    ``endpoints`` names the clusters whose endpoints the snapshot serves (all by default).
    """
    served = set(weights if endpoints is None else endpoints)
    return Snapshot.from_messages(
        {
            CLUSTER_TYPE: [builders.eds_cluster(name) for name in weights],
            ENDPOINT_TYPE: [builders.load_assignment(name, [10000]) for name in sorted(served)],
            LISTENER_TYPE: [builders.http_listener("ingress", 10000, ROUTE)],
            ROUTE_TYPE: [builders.weighted_routes(ROUTE, weights)],
        }
    )


def resources(snapshot: Snapshot, type_url: str, names: Iterable[str]) -> list[Resource]:
    return [snapshot.resources(type_url)[name] for name in names]


def subscription(
    type_url: str,
    *,
    sent: Iterable[Resource] = (),
    acked: Iterable[Resource] = (),
    names: Iterable[str] | None = None,
) -> Subscription:
    """A type as a stream would hold it; ``names=None`` subscribes to everything."""
    state = Subscription(type_url)
    state.wildcard = names is None
    state.names = frozenset(names or ())
    state.sent = {resource.name: resource for resource in sent}
    state.acked = {resource.name: resource for resource in acked}
    state.sent_version = Selection(type_url, state.sent).version if state.sent else ""
    state.acked_version = Selection(type_url, state.acked).version if state.acked else ""
    return state


def proxy(
    snapshot: Snapshot,
    *,
    clusters: Iterable[str],
    endpoints: Iterable[str],
    routes: Snapshot | None = None,
) -> dict[str, Subscription]:
    """A proxy that was sent ``snapshot`` and ACKed the named clusters and endpoints.

    ``routes`` is the snapshot whose route it was sent and ACKed (none: no route yet).
    """
    cds = snapshot.resources(CLUSTER_TYPE).values()
    eds = snapshot.resources(ENDPOINT_TYPE).values()
    route = [] if routes is None else list(routes.resources(ROUTE_TYPE).values())
    return {
        CLUSTER_TYPE: subscription(
            CLUSTER_TYPE, sent=cds, acked=resources(snapshot, CLUSTER_TYPE, clusters)
        ),
        ENDPOINT_TYPE: subscription(
            ENDPOINT_TYPE,
            sent=eds,
            acked=resources(snapshot, ENDPOINT_TYPE, endpoints),
            names=[r.name for r in eds],
        ),
        ROUTE_TYPE: subscription(ROUTE_TYPE, sent=route, acked=route, names=[ROUTE]),
    }


def route_selection(snapshot: Snapshot) -> Selection:
    return snapshot.select(ROUTE_TYPE, frozenset({ROUTE}))


def test_a_route_naming_an_unacked_cluster_is_held_back() -> None:
    snapshot = config({"a": 50, "b": 50})
    types = proxy(snapshot, clusters=["a"], endpoints=["a"])

    hold = hold_back(
        types[ROUTE_TYPE], types, route_selection(snapshot), snapshot, now=100.0, timeout=TIMEOUT
    )

    assert dict(hold.held) == {ROUTE: None}  # a new route: the proxy gets nothing yet
    assert hold.since == 100.0
    assert hold.wait == TIMEOUT
    assert hold.overdue == ()
    assert not with_changes(route_selection(snapshot), hold.held).resources


def test_a_held_route_update_keeps_the_previous_version() -> None:
    before = config({"a": 100})
    after = config({"a": 50, "b": 50})
    types = proxy(after, clusters=["a"], endpoints=["a"], routes=before)

    hold = hold_back(
        types[ROUTE_TYPE], types, route_selection(after), after, now=100.0, timeout=TIMEOUT
    )

    previous = before.resources(ROUTE_TYPE)[ROUTE]
    assert dict(hold.held) == {ROUTE: previous}
    assert with_changes(route_selection(after), hold.held).resources[ROUTE] is previous


def test_the_route_goes_once_its_cluster_and_endpoints_are_acked() -> None:
    snapshot = config({"a": 50, "b": 50})
    route = snapshot.resources(ROUTE_TYPE)[ROUTE]

    cluster_only = proxy(snapshot, clusters=["a", "b"], endpoints=["a"])
    assert not ready(route, cluster_only, snapshot)  # b's endpoints are served, not ACKed

    both = proxy(snapshot, clusters=["a", "b"], endpoints=["a", "b"])
    assert ready(route, both, snapshot)
    state = both[ROUTE_TYPE]
    state.held_since = 100.0
    hold = hold_back(state, both, route_selection(snapshot), snapshot, now=101.0, timeout=TIMEOUT)
    assert not hold.held
    assert hold.since is None  # the hold is over
    assert hold.wait is None
    assert hold.overdue == ()


def test_endpoints_we_do_not_serve_are_not_waited_for() -> None:
    snapshot = config({"a": 50, "b": 50}, endpoints=["a"])
    route = snapshot.resources(ROUTE_TYPE)[ROUTE]

    assert not ready(route, proxy(snapshot, clusters=["a"], endpoints=["a"]), snapshot)
    assert ready(route, proxy(snapshot, clusters=["a", "b"], endpoints=["a"]), snapshot)


def test_nothing_waits_without_a_cluster_subscription() -> None:
    snapshot = config({"a": 100})
    state = subscription(ROUTE_TYPE, names=[ROUTE])
    types = {ROUTE_TYPE: state}

    assert ready(snapshot.resources(ROUTE_TYPE)[ROUTE], types, snapshot)
    hold = hold_back(state, types, route_selection(snapshot), snapshot, now=0.0, timeout=TIMEOUT)
    assert not hold.held


@pytest.mark.parametrize("elapsed", [TIMEOUT, TIMEOUT + 60])
def test_the_hold_ends_after_the_timeout(elapsed: float) -> None:
    snapshot = config({"a": 50, "b": 50})
    types = proxy(snapshot, clusters=["a"], endpoints=["a"])
    state = types[ROUTE_TYPE]
    state.held_since = 100.0
    selection = route_selection(snapshot)

    waiting = hold_back(state, types, selection, snapshot, now=100.0 + 1, timeout=TIMEOUT)
    assert dict(waiting.held) == {ROUTE: None}
    assert waiting.since == 100.0  # the hold counts from when it began
    assert waiting.wait == pytest.approx(TIMEOUT - 1)

    released = hold_back(state, types, selection, snapshot, now=100.0 + elapsed, timeout=TIMEOUT)
    assert not released.held
    assert released.overdue == (ROUTE,)
    assert released.wait is None
    assert released.since == 100.0
    assert with_changes(selection, released.held) is selection


def test_a_cluster_is_kept_while_an_acked_route_names_it() -> None:
    before = config({"a": 50, "b": 50})
    after = config({"a": 100})  # b is gone from the snapshot
    types = proxy(before, clusters=["a", "b"], endpoints=["a", "b"], routes=before)

    kept = kept_clusters(types, after)
    assert kept == {"b"}
    clusters = keep(types[CLUSTER_TYPE], types, after.select(CLUSTER_TYPE, None), kept)
    assert sorted(clusters.resources) == ["a", "b"]
    assert clusters.resources["b"] is before.resources(CLUSTER_TYPE)["b"]
    endpoints = keep(
        types[ENDPOINT_TYPE],
        types,
        after.select(ENDPOINT_TYPE, types[ENDPOINT_TYPE].names),
        kept,
    )
    assert sorted(endpoints.resources) == ["a", "b"]


def test_a_cluster_is_removed_once_no_acked_route_names_it() -> None:
    before = config({"a": 50, "b": 50})
    after = config({"a": 100})
    types = proxy(before, clusters=["a", "b"], endpoints=["a", "b"], routes=after)

    kept = kept_clusters(types, after)
    assert kept == frozenset()
    clusters = keep(types[CLUSTER_TYPE], types, after.select(CLUSTER_TYPE, None), kept)
    assert sorted(clusters.resources) == ["a"]
    endpoints = keep(
        types[ENDPOINT_TYPE],
        types,
        after.select(ENDPOINT_TYPE, types[ENDPOINT_TYPE].names),
        kept,
    )
    assert sorted(endpoints.resources) == ["a"]


def test_a_route_the_proxy_only_was_sent_keeps_nothing() -> None:
    """Only ACKed routes count: a route still on its way may yet be rejected."""
    before = config({"a": 50, "b": 50})
    after = config({"a": 100})
    types: Subscriptions = {
        **proxy(before, clusters=["a", "b"], endpoints=["a", "b"]),
        ROUTE_TYPE: subscription(
            ROUTE_TYPE, sent=before.resources(ROUTE_TYPE).values(), names=[ROUTE]
        ),
    }

    assert kept_clusters(types, after) == frozenset()


def test_shared_verdicts_answer_as_ready_does_per_acked_mapping() -> None:
    snapshot = config({"a": 50, "b": 50})
    route = snapshot.resources(ROUTE_TYPE)[ROUTE]
    verdicts = SharedVerdicts(limit=2)
    waiting = proxy(snapshot, clusters=["a"], endpoints=["a"])
    done = proxy(snapshot, clusters=["a", "b"], endpoints=["a", "b"])
    # Streams holding the same ACKed mappings share one answer.
    twin = dict(waiting)

    assert not verdicts.ready(route, waiting, snapshot)
    assert not verdicts.ready(route, twin, snapshot)
    assert len(verdicts) == 1
    assert verdicts.ready(route, done, snapshot)
    assert len(verdicts) == 2
    # The oldest answer is forgotten past the limit, and worked out again when asked.
    assert verdicts.ready(
        route, proxy(snapshot, clusters=["a", "b"], endpoints=["a", "b"]), snapshot
    )
    assert len(verdicts) == 2
    assert not verdicts.ready(route, waiting, snapshot)
    held = hold_back(
        waiting[ROUTE_TYPE],
        waiting,
        route_selection(snapshot),
        snapshot,
        now=0.0,
        timeout=TIMEOUT,
        verdicts=verdicts,
    )
    assert dict(held.held) == {ROUTE: None}


def test_shared_verdicts_keep_clusters_as_kept_clusters_does() -> None:
    before = config({"a": 50, "b": 50})
    after = config({"a": 100})
    verdicts = SharedVerdicts()
    still_routed = proxy(before, clusters=["a", "b"], endpoints=["a", "b"], routes=before)
    moved_on = proxy(before, clusters=["a", "b"], endpoints=["a", "b"], routes=after)

    assert verdicts.kept(still_routed, after) == {"b"}
    assert verdicts.kept(dict(still_routed), after) == {"b"}  # the same mappings: remembered
    assert len(verdicts) == 1
    # Other ACKed routes are another question.
    assert verdicts.kept(moved_on, after) == frozenset()
    assert len(verdicts) == 2
    assert verdicts.kept({}, after) == frozenset()


def test_a_client_asking_for_clusters_by_name_is_not_held_for_one_it_has_not_asked_for() -> None:
    """A gRPC client subscribes to a cluster only once it holds the route that names it, so
    waiting for it to ACK that cluster first would hold the route until the timeout."""
    snapshot = config({"a": 50, "b": 50})
    route = snapshot.resources(ROUTE_TYPE)[ROUTE]
    cds = snapshot.resources(CLUSTER_TYPE)
    eds = snapshot.resources(ENDPOINT_TYPE)
    types = {
        CLUSTER_TYPE: subscription(CLUSTER_TYPE, sent=[cds["a"]], acked=[cds["a"]], names=["a"]),
        ENDPOINT_TYPE: subscription(ENDPOINT_TYPE, sent=[eds["a"]], acked=[eds["a"]], names=["a"]),
    }
    assert ready(route, types, snapshot)  # b: not asked for, so not waited for
    assert SharedVerdicts().ready(route, types, snapshot)

    asked = dict(types, **{CLUSTER_TYPE: subscription(CLUSTER_TYPE, names=["a", "b"])})
    assert not ready(route, asked, snapshot)  # asked for b, not yet ACKed: wait
    envoy = proxy(snapshot, clusters=["a"], endpoints=["a"])  # wildcard CDS, as Envoy asks
    assert not ready(route, envoy, snapshot)


def test_shared_verdicts_hold_no_mapping_of_a_snapshot() -> None:
    """Every weight written makes a new route configuration; an answer that held the ACKed
    mappings would keep each one before it alive (6 MB at 10 000 services) for 256 answers."""
    verdicts = SharedVerdicts()
    snapshots = [config({"a": weight, "b": 100 - weight}) for weight in (10, 20, 30)]
    held_mappings: list[object] = []
    for before, after in itertools.pairwise(snapshots):
        types = proxy(before, clusters=["a", "b"], endpoints=["a", "b"], routes=before)
        held_mappings += [state.acked for state in types.values()]
        held_mappings += [state.sent for state in types.values()]
        held_mappings += [after.resources(t) for t in (CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE)]
        route = after.resources(ROUTE_TYPE)[ROUTE]
        assert verdicts.ready(route, types, after)
        assert verdicts.kept(types, after) == frozenset()

    kept_alive = [item for _, held in verdicts._entries.values() for item in held]
    assert kept_alive, "the answers were remembered"
    assert not any(item is mapping for item in kept_alive for mapping in held_mappings)
