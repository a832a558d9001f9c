"""The shared evaluations of SotW streams keep only the most recent snapshots alive."""

from __future__ import annotations

from breakwater.controlplane.xds.resources import Snapshot
from breakwater.controlplane.xds.sotw import SharedPlans


def test_plans_are_kept_for_the_most_recently_planned_snapshots_only():
    plans = SharedPlans(snapshots=2, per_snapshot=2)
    first, second, third = Snapshot.empty(), Snapshot.empty(), Snapshot.empty()
    plans.remember(first, "state", (), ())
    plans.remember(second, "state", (), ())
    assert plans.get(first, "state") == () and plans.get(second, "state") == ()
    assert plans.get(second, "other state") is None

    plans.remember(first, "again", (), ())  # planned again: the most recent now
    plans.remember(third, "state", (), ())
    assert plans.get(second, "state") is None  # the least recently planned is let go
    assert plans.get(first, "again") == () and plans.get(third, "state") == ()

    plans.remember(third, "a", (), ())
    plans.remember(third, "b", (), ())  # past `per_snapshot`: that snapshot starts over
    assert plans.get(third, "state") is None and plans.get(third, "b") == ()
    assert len(plans) == 3  # two of the first snapshot, one of the third
