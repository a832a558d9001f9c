"""What every store promises, run against each: weight overrides, drains and rollout progress
are durable, compare-and-set on each entry's own revision, and read back by another reader
(a restart with SQLite, another replica with etcd).

The API server's store runs the same functions: tests/kubernetes/test_state_store.py
imports them with an `open_store` of its own.
"""

from __future__ import annotations

import pytest

from breakwater.controlplane.state.store import Drain, RevisionConflict
from tests.support.stores import Opener


async def test_load_put_and_read_back(open_store: Opener) -> None:
    store, other = open_store(), open_store()
    empty = await store.load()
    assert empty.overrides == {} and empty.revision == 0

    written = await store.put_weights("payments", 0, {"stable": 75, "canary": 25})
    assert written.revision > 0
    seen = await other.load()
    assert seen.revision == written.revision
    override = seen.overrides[("payments", 0)]
    assert override.weights == {"stable": 75, "canary": 25}
    assert override.revision == written.revision


async def test_compare_and_set(open_store: Opener) -> None:
    store, other = open_store(), open_store()
    first = await store.put_weights(
        "payments", 0, {"stable": 90, "canary": 10}, expected_revision=0
    )
    with pytest.raises(RevisionConflict) as conflict:
        await other.put_weights("payments", 0, {"stable": 0, "canary": 100}, expected_revision=0)
    assert conflict.value.current == first.revision and conflict.value.expected == 0

    second = await other.put_weights(
        "payments", 0, {"stable": 50, "canary": 50}, expected_revision=first.revision
    )
    assert second.revision > first.revision
    with pytest.raises(RevisionConflict) as stale:
        await store.put_weights("payments", 0, {"stable": 1, "canary": 99}, first.revision)
    assert stale.value.current == second.revision
    assert (await store.load()).overrides[("payments", 0)].weights == {"stable": 50, "canary": 50}

    # Each rule has its own revision.
    await store.put_weights("payments", 1, {"a": 1, "b": 1}, expected_revision=0)


async def test_delete(open_store: Opener) -> None:
    store, other = open_store(), open_store()
    one = await store.put_weights("payments", 0, {"stable": 90, "canary": 10})
    two = await store.put_weights("payments", 1, {"stable": 10, "canary": 90})
    await store.put_weights("payments-eu", 0, {"stable": 1, "canary": 1})

    with pytest.raises(RevisionConflict) as conflict:
        await other.delete_weights("payments", 0, expected_revision=one.revision - 1)
    assert conflict.value.current == one.revision
    gone = await other.delete_weights("payments", 0, expected_revision=one.revision)
    assert gone > two.revision
    state = await store.load()
    assert set(state.overrides) == {("payments", 1), ("payments-eu", 0)}
    assert state.revision == gone

    # A whole route: the revision to name is the newest of its rules.
    with pytest.raises(RevisionConflict) as route_conflict:
        await store.delete_weights("payments", None, expected_revision=one.revision)
    assert route_conflict.value.current == two.revision
    await store.delete_weights("payments", None, expected_revision=two.revision)
    # The route's name is not a prefix match: payments-eu stays.
    assert set((await other.load()).overrides) == {("payments-eu", 0)}


async def test_rollout_progress_and_history_are_shared_and_bounded(open_store: Opener) -> None:
    store, other = open_store(), open_store()
    revision = await store.put_rollout("payments", {"phase": "Progressing", "step": 2})
    seen = await other.load()
    assert seen.rollouts == {"payments": {"phase": "Progressing", "step": 2}}
    assert seen.rollout_revisions == {"payments": revision}
    assert seen.revision >= revision
    with pytest.raises(RevisionConflict):
        await other.put_rollout("payments", {"phase": "Paused", "step": 2}, expected_revision=0)
    await other.put_rollout("payments", {"phase": "Paused", "step": 2}, revision)
    for index in range(6):
        await store.append_change({"index": index}, 3)
    assert [e["index"] for e in await other.changes(10)] == [3, 4, 5]


async def test_a_drain_is_durable_and_compare_and_set(open_store: Opener) -> None:
    store = open_store()
    drain = Drain("payments", "10.0.0.7:8080", "token@10.1.1.1", 1_796_000_000.5)
    written = await store.put_drain(drain, expected_revision=0)
    assert written.revision > 0
    with pytest.raises(RevisionConflict) as conflict:
        await store.put_drain(drain, expected_revision=0)
    assert conflict.value.current == written.revision

    reader = open_store()
    loaded = await reader.load()
    assert loaded.drains == {("payments", "10.0.0.7:8080"): written}
    assert loaded.revision >= written.revision

    with pytest.raises(RevisionConflict):
        await reader.delete_drain("payments", "10.0.0.7:8080", written.revision - 1)
    revision = await reader.delete_drain("payments", "10.0.0.7:8080", written.revision)
    assert revision > written.revision
    assert (await store.load()).drains == {}
    # Undraining what is not drained changes nothing and is no error, unless a revision is named.
    await store.delete_drain("payments", "10.0.0.7:8080")
    with pytest.raises(RevisionConflict):
        await store.delete_drain("payments", "10.0.0.7:8080", 5)
