"""The rollout engine, step by step, without a proxy: ACKs gate steps, silence holds, a failed
gate rolls back at once, pauses wait, commands do what they say or say why not."""

from __future__ import annotations

from typing import Any

import pytest

from breakwater.controlplane.rollouts.engine import (
    ANALYSES_LIMIT,
    CommandRefused,
    Observation,
    RolloutState,
    Sample,
    advance,
    command,
    start,
)
from breakwater.translators.rollout_model import RolloutSpec


def spec(**changes: Any) -> RolloutSpec:
    body: dict[str, Any] = {
        "routeRef": {"name": "payments", "rule": 0},
        "stable": "stable",
        "canary": "canary",
        "steps": [
            {"setWeight": 10},
            {"pause": {"duration": "10s"}},
            {"setWeight": 50},
            {"pause": {}},
            {"setWeight": 100},
        ],
        "analysis": {
            "interval": "5s",
            "minRequests": 20,
            "failureLimit": 1,
            "successRate": {"min": 99},
            "latency": {"percentile": 99, "max": "500ms"},
        },
    }
    body.update(changes)
    return RolloutSpec.model_validate(body)


def healthy(requests: int = 100, latency: float = 50.0) -> Sample:
    return Sample(requests, 0.0, latency, 0.0, 5.0)


def run(state: RolloutState, rollout: RolloutSpec, *observations: Observation) -> RolloutState:
    for seen in observations:
        state = advance(state, rollout, seen)
    return state


def test_a_healthy_canary_goes_through_every_step_each_after_the_proxies_acked() -> None:
    rollout = spec()
    state = start(rollout, 0.0)
    assert (state.step, state.canary_weight, state.awaiting_ack) == (0, 10, True)

    state = advance(state, rollout, Observation(1.0, sample=healthy()))
    assert state.step == 0, "no ACK yet: the step does not count, whatever the numbers"
    state = run(state, rollout, Observation(2.0, acked=True), Observation(7.0, sample=healthy()))
    assert (state.step, state.phase) == (1, "Progressing"), "one passing judgement after the ACK"
    state = advance(state, rollout, Observation(12.0, sample=healthy()))
    assert state.step == 1, "the pause lasts 10 s"
    state = advance(state, rollout, Observation(17.5, sample=healthy()))
    assert (state.step, state.canary_weight) == (2, 50)
    state = run(state, rollout, Observation(18.0, acked=True), Observation(23.0, sample=healthy()))
    assert (state.step, state.phase) == (3, "Paused"), "`pause: {}` waits for promote"
    state = advance(state, rollout, Observation(60.0, sample=healthy()))
    assert state.phase == "Paused"
    state = command(state, rollout, "promote", 61.0)
    assert (state.step, state.canary_weight, state.phase) == (4, 100, "Progressing")
    state = run(state, rollout, Observation(62.0, acked=True), Observation(67.0, sample=healthy()))
    assert (state.phase, state.canary_weight) == ("Promoted", 100)
    assert "promoted" in state.message


def test_too_little_traffic_is_inconclusive_and_never_promotes() -> None:
    rollout = spec()
    state = run(start(rollout, 0.0), rollout, Observation(1.0, acked=True))
    for at in range(5, 200, 5):
        state = advance(state, rollout, Observation(float(at), sample=healthy(requests=3)))
    assert (state.step, state.phase) == (0, "Progressing")
    assert state.last_analysis is not None and state.last_analysis.verdict == "inconclusive"
    assert "fewer than minRequests 20" in state.last_analysis.reason


def test_every_judgement_is_kept_for_the_chart_oldest_first_up_to_the_limit() -> None:
    rollout = spec()
    state = run(start(rollout, 0.0), rollout, Observation(1.0, acked=True))
    judged = [float(at) for at in range(5, 5 * (ANALYSES_LIMIT + 10), 5)]
    for at in judged:
        state = advance(state, rollout, Observation(at, sample=healthy(requests=3)))
    assert [j.at for j in state.analyses] == judged[-ANALYSES_LIMIT:]
    assert state.analyses[-1] == state.last_analysis
    assert RolloutState.from_json(state.to_json()) == state, "they survive a restart"


def test_a_failing_canary_is_rolled_back_at_once_with_the_gate_and_the_numbers() -> None:
    rollout = spec()
    state = run(start(rollout, 0.0), rollout, Observation(1.0, acked=True))
    state = advance(state, rollout, Observation(6.0, sample=Sample(200, 30.0, 40.0, 0.0, 5.0)))
    assert (state.phase, state.canary_weight, state.header_route) == ("RolledBack", 0, False)
    assert state.awaiting_ack, "the rollback's weights must reach the proxies too"
    assert "success rate 70.0 % is below 99 %" in state.message


def test_a_slow_canary_fails_the_latency_gate() -> None:
    rollout = spec()
    state = run(start(rollout, 0.0), rollout, Observation(1.0, acked=True))
    state = advance(state, rollout, Observation(6.0, sample=healthy(latency=800.0)))
    assert state.phase == "RolledBack"
    assert "p99 latency 800 ms is over 500 ms" in state.message


def test_failure_limit_counts_failed_intervals() -> None:
    rollout = spec(
        analysis={"interval": "5s", "minRequests": 1, "failureLimit": 2, "successRate": {"min": 99}}
    )
    state = run(start(rollout, 0.0), rollout, Observation(1.0, acked=True))
    state = advance(state, rollout, Observation(6.0, sample=Sample(50, 5.0, None, 0.0, 5.0)))
    assert (state.phase, state.failed_intervals) == ("Progressing", 1)
    state = advance(state, rollout, Observation(11.0, sample=Sample(50, 5.0, None, 0.0, 5.0)))
    assert state.phase == "RolledBack"


def test_a_proxy_that_rejects_a_step_stops_the_rollout_with_its_message() -> None:
    rollout = spec()
    state = advance(start(rollout, 0.0), rollout, Observation(1.0, rejected="bad route"))
    assert state.phase == "Paused"
    assert "bad route" in state.message
    assert command(state, rollout, "resume", 2.0).phase == "Progressing"


def test_abort_sends_everything_back_to_stable_and_retry_starts_again() -> None:
    rollout = spec()
    state = run(start(rollout, 0.0), rollout, Observation(1.0, acked=True))
    aborted = command(state, rollout, "abort", 2.0)
    assert (aborted.phase, aborted.canary_weight) == ("Aborted", 0)
    with pytest.raises(CommandRefused, match="retry"):
        command(aborted, rollout, "promote", 3.0)
    again = command(aborted, rollout, "retry", 3.0)
    assert (again.phase, again.step, again.canary_weight) == ("Progressing", 0, 10)


def test_resume_does_not_pass_a_pause_that_waits_for_promote() -> None:
    rollout = spec(steps=[{"pause": {}}, {"setWeight": 100}])
    state = start(rollout, 0.0)
    assert state.phase == "Paused"
    with pytest.raises(CommandRefused, match="promote"):
        command(state, rollout, "resume", 1.0)


def test_the_header_stage_routes_by_header_before_any_weight() -> None:
    rollout = spec(
        steps=[
            {"setHeaderRoute": {"headers": [{"name": "canary-user", "value": "true"}]}},
            {"setWeight": 100},
        ]
    )
    state = start(rollout, 0.0)
    assert (state.header_route, state.canary_weight, state.awaiting_ack) == (True, 0, True)
    state = run(state, rollout, Observation(1.0, acked=True), Observation(6.0, sample=healthy()))
    assert (state.step, state.canary_weight) == (1, 100)


def test_a_hold_keeps_the_step_until_it_is_lifted() -> None:
    rollout = spec(steps=[{"setWeight": 10}, {"setWeight": 100}])
    state = run(start(rollout, 0.0), rollout, Observation(1.0, acked=True))
    state = advance(state, rollout, Observation(6.0, sample=healthy(), hold="not confirmed"))
    assert (state.step, state.message) == (0, "not confirmed")
    state = advance(state, rollout, Observation(11.0, sample=healthy()))
    assert state.step == 1


def test_state_survives_json_unchanged() -> None:
    rollout = spec()
    state = run(
        start(rollout, 0.0),
        rollout,
        Observation(1.0, acked=True),
        Observation(6.0, sample=healthy()),
    )
    assert RolloutState.from_json(state.to_json()) == state


def test_the_shorthand_walks_step_weight_up_to_max_weight_then_100() -> None:
    plan = spec(steps=[], stepWeight=20, maxWeight=50, interval="1m").plan()
    weights = [s.set_weight for s in plan if s.set_weight is not None]
    assert weights == [20, 40, 50, 100]
