"""`make demo` shows what it says: a Rollout that advances while the canary is healthy and rolls
back when the demo breaks the canary, against a real Envoy, in the demo's fast pace."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakwater.devtools import demo, demo_policies
from tests.support.policies import load_policy_dir


def test_the_policies_the_demo_serves_are_valid_and_carry_its_rollout(tmp_path: Path) -> None:
    demo_policies.write_policies(
        tmp_path, {18081: 41001, 18082: 41002, 10000: 41000}, demo_policies.FAST
    )
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is not None, errors
    assert not errors
    rollout = policyset.rollouts["payments"].spec
    assert (rollout.route_ref.name, rollout.route_ref.rule) == ("payments", "split")
    assert [s.set_weight for s in rollout.plan() if s.set_weight is not None] == [20, 30, 50, 100]
    # The examples drive the same rule with a Rollout of their own: the demo's replaces it.
    examples, _ = load_policy_dir(demo_policies.EXAMPLES)
    assert examples is not None
    assert examples.rollouts["payments"].spec.route_ref == rollout.route_ref
    assert list(policyset.rollouts) == ["payments"]
    assert not (tmp_path / "rollout.yaml").exists()
    ports = {e.port for e in policyset.services["payments"].spec.endpoints or []}
    assert ports == {41001, 41002}
    assert policyset.gateways["edge"].spec.port == 41000


def test_the_rollout_advances_then_rolls_back_when_the_canary_breaks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = demo.run(demo_policies.FAST, fixed_ports=False)
    shown = capsys.readouterr().out
    assert outcome.code == 0, shown

    # The rollout as GET /v1/rollouts/payments answered at the end.
    final = outcome.rollout
    assert final is not None, shown
    assert (final.phase, final.canary_weight, final.awaiting_ack) == ("RolledBack", 0, False)
    held = [e.canary_weight for e in final.history if e.message.endswith("holds on every proxy")]
    assert held == [20, 30, 50], final.history
    assert final.last_analysis is not None and final.last_analysis.verdict == "failed"
    assert final.message.startswith("rolled back to 0 %: success rate"), final.message
    assert "below 95 %" in final.message

    # The bars: the canary took half the traffic before the break, none after the rollback.
    assert outcome.broke_at_round is not None
    before = [r for r in outcome.rounds if r.number <= outcome.broke_at_round]
    assert before[-1].rollout.canary_weight == 50
    assert before[-1].shares.get("canary", 0.0) > 0.35, before[-1]
    for after in outcome.rounds[-demo_policies.FAST.after_rollback :]:
        assert after.shares == {"stable": 1.0}, after
        assert after.ok == after.total, after

    assert "Breaking it on purpose" in shown
    assert "<<< RolledBack: the successRate gate (min 95 %) failed: success rate" in shown
    assert "demo stopped: Envoy, the control plane and the upstreams are down." in shown
    # The examples' Telemetry exports to their collector: the demo runs one, so the failed
    # requests' access logs (and a share of traces) reach it rather than a closed port.
    assert outcome.collector_exports > 0
