"""A rollout's progress as a pure function: state and what was observed in, next state out.

No I/O and no clock of its own: the driver says what time it is, whether the
proxies hold the weights, what the canary's numbers are and which command an
operator gave, and writes out whatever this returns. That keeps every rule
of a rollout testable without a proxy:

* A step that moves traffic (`setWeight`, `setHeaderRoute`) counts only once
  every proxy in scope acknowledged it; a proxy that rejects it stops the
  rollout (`Paused`) with Envoy's message.
* While the canary gets traffic, it is judged every analysis interval. Too
  few requests is inconclusive: the step holds, so a rollout never promotes
  on silence. A failed judgement counts towards `failureLimit`; reaching it
  rolls the canary back to 0 at once and says which gate failed and by how
  much.
* A step is done after one passing judgement (a `pause` also after its
  duration); `pause: {}` waits for `promote`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from breakwater.controlplane.limits import bounded
from breakwater.controlplane.rollouts.phases import (
    TERMINAL,
    Command,
    Phase,
    Verdict,
)
from breakwater.translators.rollout_model import Analysis, RolloutSpec, Step

HISTORY_LIMIT = 100
ANALYSES_LIMIT = 60
"""Judgements kept for the console's chart: at a 30 s interval, the last half hour."""


class CommandRefused(ValueError):
    """The command does not apply to the rollout in its phase; the message says what does."""


class RolloutMoved(Exception):
    """A command named the phase and step it was given for, and the rollout is elsewhere now
    (its analysis or another operator moved it): a promote meant for one step must not
    finish the next."""


@dataclass(frozen=True)
class Sample:
    """The canary's and the stable's numbers over one window, as the fleet reported them."""

    canary_requests: int
    canary_error_percent: float | None
    canary_latency_ms: float | None
    """At the percentile the analysis names."""
    stable_error_percent: float | None
    seconds: float


@dataclass(frozen=True)
class Judgement:
    at: float
    verdict: Verdict
    reason: str
    canary_requests: int
    canary_error_percent: float | None
    canary_latency_ms: float | None
    stable_error_percent: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Observation:
    now: float
    """Wall-clock seconds: the state outlives the process."""
    acked: bool = False
    """Every proxy in scope holds the weights and header route this state asks for."""
    rejected: str | None = None
    """Envoy's message when a proxy NACKed them."""
    sample: Sample | None = None
    """A window to judge, when one is due."""
    hold: str | None = None
    """Why the next step may not start yet (a webhook that did not confirm)."""
    rollback: str | None = None
    """Why to roll back now (a rollback webhook said so)."""


@dataclass(frozen=True)
class Event:
    at: float
    phase: Phase
    step: int
    canary_weight: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RolloutState:
    """Everything that must survive a restart for the rollout to go on where it was."""

    phase: Phase
    step: int
    canary_weight: int
    header_route: bool
    awaiting_ack: bool
    step_started: float
    """When the current step took effect on every proxy (or began, for a pause)."""
    passes: int = 0
    """Passing judgements since the current step took effect."""
    failed_intervals: int = 0
    message: str = ""
    last_analysis: Judgement | None = None
    history: tuple[Event, ...] = field(default_factory=tuple)
    analyses: tuple[Judgement, ...] = field(default_factory=tuple)
    """The last judgements, oldest first (at most ANALYSES_LIMIT), so that one can see the
    canary's numbers over time."""

    def to_json(self) -> dict[str, Any]:
        nested = ("last_analysis", "history", "analyses")
        out = {k: v for k, v in self.__dict__.items() if k not in nested}
        out["last_analysis"] = self.last_analysis.to_json() if self.last_analysis else None
        out["history"] = [e.to_json() for e in self.history]
        out["analyses"] = [j.to_json() for j in self.analyses]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutState:
        last = data.get("last_analysis")
        return cls(
            phase=data["phase"],
            step=int(data["step"]),
            canary_weight=int(data["canary_weight"]),
            header_route=bool(data["header_route"]),
            awaiting_ack=bool(data["awaiting_ack"]),
            step_started=float(data["step_started"]),
            passes=int(data.get("passes", 0)),
            failed_intervals=int(data.get("failed_intervals", 0)),
            message=str(data.get("message", "")),
            last_analysis=Judgement(**last) if last else None,
            history=tuple(Event(**e) for e in data.get("history", [])),
            analyses=tuple(Judgement(**j) for j in data.get("analyses", [])),
        )

    @property
    def canary_gets_traffic(self) -> bool:
        return self.canary_weight > 0 or self.header_route


def _event(state: RolloutState, now: float, message: str, **changes: Any) -> RolloutState:
    """Every message of the progress comes through here, so every one is bounded."""
    message = bounded(message)
    changed = replace(state, **changes, message=message)
    event = Event(now, changed.phase, changed.step, changed.canary_weight, message)
    return replace(changed, history=(*state.history, event)[-HISTORY_LIMIT:])


def _enter(state: RolloutState, plan: list[Step], index: int, now: float) -> RolloutState:
    """Start step `index`: apply what it changes (to be acknowledged) or start its clock."""
    if index >= len(plan):
        return _event(
            state,
            now,
            f"promoted: the canary takes {state.canary_weight} % of the traffic",
            phase="Promoted",
            step=len(plan),
            awaiting_ack=False,
        )
    step = plan[index]
    base = replace(state, step=index, passes=0, step_started=now)
    if step.set_weight is not None:
        return _event(
            base,
            now,
            f"step {index}: canary weight {state.canary_weight} → {step.set_weight} %",
            canary_weight=step.set_weight,
            awaiting_ack=True,
            phase="Progressing",
        )
    if step.set_header_route is not None:
        headers = ", ".join(f"{h.name}: {h.value}" for h in step.set_header_route.headers)
        return _event(
            base,
            now,
            f"step {index}: requests with {headers} go to the canary",
            header_route=True,
            awaiting_ack=True,
            phase="Progressing",
        )
    assert step.pause is not None
    if step.pause.duration is None:
        return _event(
            base,
            now,
            f"step {index}: paused until `breakwater rollout promote`",
            phase="Paused",
            awaiting_ack=False,
        )
    return _event(
        base,
        now,
        f"step {index}: pause {_seconds(step.pause.duration)}",
        phase="Progressing",
        awaiting_ack=False,
    )


def start(spec: RolloutSpec, now: float) -> RolloutState:
    initial = RolloutState(
        phase="Progressing",
        step=0,
        canary_weight=0,
        header_route=False,
        awaiting_ack=False,
        step_started=now,
    )
    return _enter(_event(initial, now, "started"), spec.plan(), 0, now)


def judge(sample: Sample, analysis: Analysis, now: float) -> Judgement:
    def verdict(kind: Verdict, reason: str) -> Judgement:
        return Judgement(
            now,
            kind,
            reason,
            sample.canary_requests,
            sample.canary_error_percent,
            sample.canary_latency_ms,
            sample.stable_error_percent,
        )

    if sample.canary_requests < analysis.min_requests:
        return verdict(
            "inconclusive",
            f"{sample.canary_requests} canary requests in {sample.seconds:.0f} s, fewer than "
            f"minRequests {analysis.min_requests}: the step holds",
        )
    errors = sample.canary_error_percent or 0.0
    if analysis.success_rate is not None and 100.0 - errors < analysis.success_rate.min:
        return verdict(
            "failed",
            f"success rate {100.0 - errors:.1f} % is below {analysis.success_rate.min:g} % "
            f"({sample.canary_requests} canary requests)",
        )
    if analysis.latency is not None and sample.canary_latency_ms is not None:
        limit = analysis.latency.max.total_seconds() * 1000.0
        if sample.canary_latency_ms > limit:
            return verdict(
                "failed",
                f"p{analysis.latency.percentile} latency {sample.canary_latency_ms:.0f} ms is "
                f"over {limit:.0f} ms",
            )
    if analysis.max_error_rate_increase is not None:
        stable = sample.stable_error_percent or 0.0
        if errors - stable > analysis.max_error_rate_increase:
            return verdict(
                "failed",
                f"canary 5xx {errors:.1f} % is {errors - stable:.1f} points above stable's "
                f"{stable:.1f} % (at most {analysis.max_error_rate_increase:g})",
            )
    return verdict("passed", f"{sample.canary_requests} canary requests, every gate passed")


def _roll_back(state: RolloutState, now: float, why: str) -> RolloutState:
    return _event(
        state,
        now,
        f"rolled back to 0 %: {why}",
        phase="RolledBack",
        canary_weight=0,
        header_route=False,
        awaiting_ack=True,
    )


def advance(state: RolloutState, spec: RolloutSpec, seen: Observation) -> RolloutState:
    """One turn: take in what was observed, move on if the current step is done."""
    now = seen.now
    if state.phase in TERMINAL:
        if state.awaiting_ack and seen.acked:
            return replace(state, awaiting_ack=False)
        return state
    plan = spec.plan()
    if seen.rollback is not None:
        return _roll_back(state, now, seen.rollback)
    if state.awaiting_ack:
        if seen.rejected is not None:
            return _event(
                state,
                now,
                f"stopped: a proxy rejected step {state.step}: {seen.rejected}",
                phase="Paused",
                awaiting_ack=False,
            )
        if not seen.acked:
            return state
        state = _event(
            state,
            now,
            f"step {state.step} holds on every proxy",
            awaiting_ack=False,
            step_started=now,
            passes=0,
        )
    if seen.sample is not None and state.canary_gets_traffic:
        verdict = judge(seen.sample, spec.analysis, now)
        state = replace(
            state,
            last_analysis=verdict,
            analyses=(*state.analyses, verdict)[-ANALYSES_LIMIT:],
        )
        if verdict.verdict == "failed":
            failed = state.failed_intervals + 1
            state = replace(state, failed_intervals=failed)
            if failed >= spec.analysis.failure_limit:
                return _roll_back(state, now, verdict.reason)
        elif verdict.verdict == "passed":
            state = replace(state, passes=state.passes + 1)
    if state.phase == "Paused":
        return state
    if _step_done(state, plan[state.step], now):
        if seen.hold is not None:
            if state.message != bounded(seen.hold):
                state = _event(state, now, seen.hold)
            return state
        return _enter(state, plan, state.step + 1, now)
    return state


def _step_done(state: RolloutState, step: Step, now: float) -> bool:
    judged = state.passes >= 1 or not state.canary_gets_traffic
    if step.pause is not None:
        assert step.pause.duration is not None  # an open pause is Paused, not Progressing
        return judged and now - state.step_started >= step.pause.duration.total_seconds()
    return judged


def command(state: RolloutState, spec: RolloutSpec, what: Command, now: float) -> RolloutState:
    """An operator's command; refused with a sentence where it does not apply."""
    plan = spec.plan()
    if what == "retry":
        if state.phase not in ("RolledBack", "Aborted"):
            raise CommandRefused(
                f"retry restarts a rolled back or aborted rollout; this one is {state.phase}"
            )
        restarted = replace(state, phase="Progressing", failed_intervals=0, last_analysis=None)
        return _enter(_event(restarted, now, "retried from the first step"), plan, 0, now)
    if state.phase in TERMINAL:
        raise CommandRefused(
            f"the rollout is {state.phase}; `breakwater rollout retry` starts it again"
            if state.phase != "Promoted"
            else "the rollout is Promoted; edit the Rollout to start another"
        )
    if what == "abort":
        return _event(
            state,
            now,
            "aborted: all traffic back to stable",
            phase="Aborted",
            canary_weight=0,
            header_route=False,
            awaiting_ack=True,
        )
    if what == "pause":
        if state.phase == "Paused":
            raise CommandRefused("the rollout is already paused; `resume` or `promote` it")
        return _event(state, now, "paused by an operator", phase="Paused")
    if what == "resume":
        if state.phase != "Paused":
            raise CommandRefused(f"resume continues a paused rollout; this one is {state.phase}")
        step = plan[state.step] if state.step < len(plan) else None
        if step is not None and step.pause is not None and step.pause.duration is None:
            raise CommandRefused(
                f"step {state.step} waits for `breakwater rollout promote`, not resume"
            )
        return _event(state, now, "resumed", phase="Progressing")
    # promote: the current step is done now, whatever it waited for.
    return _enter(
        _event(state, now, f"step {state.step} promoted by an operator", phase="Progressing"),
        plan,
        state.step + 1,
        now,
    )


def _seconds(duration: timedelta) -> str:
    return f"{duration.total_seconds():g} s"
