"""What the API and the metrics say about each Rollout, from the served set and its progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from breakwater.controlplane.rollouts.driver import RolloutNotFound, target_of
from breakwater.controlplane.rollouts.engine import Event, Judgement, RolloutState
from breakwater.controlplane.rollouts.phases import PHASES, ShownPhase
from breakwater.controlplane.state.controller import PolicyController


@dataclass(frozen=True)
class RolloutView:
    """One Rollout as the served set declares it and its saved progress has it; the API's
    `RolloutStatus` is made from it."""

    name: str
    route: str
    rule: int
    stable: str
    canary: str
    steps: int
    phase: ShownPhase = "Pending"
    step: int = 0
    canary_weight: int = 0
    header_route: bool = False
    awaiting_ack: bool = False
    failed_intervals: int = 0
    message: str = "not started yet"
    last_analysis: Judgement | None = None
    history: tuple[Event, ...] = field(default_factory=tuple)
    analyses: tuple[Judgement, ...] = field(default_factory=tuple)


def rollout_statuses(controller: PolicyController) -> list[RolloutView]:
    policyset = controller.state.base
    if policyset is None:
        return []
    out = []
    for name, rollout in sorted(policyset.rollouts.items()):
        target = target_of(policyset, rollout)
        if target is None:
            continue
        declared = RolloutView(
            name=name,
            route=target.route,
            rule=target.rule,
            stable=rollout.spec.stable,
            canary=rollout.spec.canary,
            steps=len(rollout.spec.plan()),
        )
        data = controller.rollouts.get(name)
        if data is None:
            out.append(declared)
            continue
        state = RolloutState.from_json(data)
        out.append(
            RolloutView(
                name=declared.name,
                route=declared.route,
                rule=declared.rule,
                stable=declared.stable,
                canary=declared.canary,
                steps=declared.steps,
                phase=state.phase,
                step=state.step,
                canary_weight=state.canary_weight,
                header_route=state.header_route,
                awaiting_ack=state.awaiting_ack,
                failed_intervals=state.failed_intervals,
                message=state.message,
                last_analysis=state.last_analysis,
                history=state.history,
                analyses=state.analyses,
            )
        )
    return out


def rollout_status(controller: PolicyController, name: str) -> RolloutView:
    for status in rollout_statuses(controller):
        if status.name == name:
            return status
    raise RolloutNotFound(
        f"there is no Rollout named {name!r} being served; `breakwater rollout status` lists them"
    )


class RolloutCollector(Collector):
    def __init__(self, statuses: Callable[[], list[RolloutView]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[Metric]:
        phase = GaugeMetricFamily(
            "breakwater_rollout_phase",
            "1 for the phase each Rollout is in.",
            labels=["rollout", "phase"],
        )
        step = GaugeMetricFamily(
            "breakwater_rollout_step", "Index of each Rollout's current step.", labels=["rollout"]
        )
        weight = GaugeMetricFamily(
            "breakwater_rollout_canary_weight",
            "The canary's weight each Rollout has set, percent.",
            labels=["rollout"],
        )
        for status in self._statuses():
            for name in ("Pending", *PHASES):
                phase.add_metric([status.name, name], 1.0 if status.phase == name else 0.0)
            step.add_metric([status.name], status.step)
            weight.add_metric([status.name], status.canary_weight)
        yield phase
        yield step
        yield weight
