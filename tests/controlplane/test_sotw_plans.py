"""The shared evaluations of SotW streams live as long as their snapshot, and no longer."""

from __future__ import annotations

from breakwater.controlplane.xds.resources import Snapshot
from breakwater.controlplane.xds.sotw import SharedPlans


def test_plans_live_as_long_as_their_snapshot() -> None:
    plans = SharedPlans(per_snapshot=2)
    first, second = Snapshot.empty(), Snapshot.empty()
    plans.remember(first, "state", ())
    plans.remember(second, "state", ())
    assert plans.get(first, "state") == () and plans.get(second, "state") == ()
    assert plans.get(second, "other state") is None
    assert len(plans) == 2

    del first  # replaced in the cache and evaluated by no stream any more
    assert len(plans) == 1, "a replaced snapshot's plans are let go with it"
    assert plans.get(second, "state") == ()


def test_a_snapshot_with_too_many_states_starts_over() -> None:
    plans = SharedPlans(per_snapshot=2)
    snapshot = Snapshot.empty()
    plans.remember(snapshot, "a", ())
    plans.remember(snapshot, "b", ())
    plans.remember(snapshot, "c", ())  # past `per_snapshot`: that snapshot starts over
    assert plans.get(snapshot, "a") is None and plans.get(snapshot, "c") == ()
    assert len(plans) == 1


def test_plans_hold_no_snapshot_alive() -> None:
    """Many groups' snapshots planned in one push each keep their plans (no count of
    snapshots to evict by), and none of them is kept alive by its plans."""
    plans = SharedPlans()
    snapshots = [Snapshot.empty() for _ in range(50)]
    for each in snapshots:
        plans.remember(each, "state", ())
    assert all(plans.get(each, "state") == () for each in snapshots)
    del each
    snapshots.clear()
    assert len(plans) == 0
