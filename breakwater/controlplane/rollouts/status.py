"""What the API and the metrics say about each Rollout, from the served set and its progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from breakwater.controlplane.api.rollout_models import RolloutStatus
from breakwater.controlplane.rollouts.driver import RolloutNotFound, target_of
from breakwater.controlplane.rollouts.engine import PHASES, RolloutState
from breakwater.controlplane.state.controller import PolicyController


def rollout_statuses(controller: PolicyController) -> list[RolloutStatus]:
    policyset = controller.state.base
    if policyset is None:
        return []
    out = []
    for name, rollout in sorted(policyset.rollouts.items()):
        target = target_of(policyset, rollout)
        if target is None:
            continue
        data = controller.rollouts.get(name)
        state = RolloutState.from_json(data) if data is not None else None
        common = {
            "name": name,
            "route": target.route,
            "rule": target.rule,
            "stable": rollout.spec.stable,
            "canary": rollout.spec.canary,
            "steps": len(rollout.spec.plan()),
        }
        if state is None:
            out.append(
                RolloutStatus(
                    **common,
                    phase="Pending",
                    step=0,
                    canary_weight=0,
                    header_route=False,
                    awaiting_ack=False,
                    failed_intervals=0,
                    message="not started yet",
                    last_analysis=None,
                    history=[],
                )
            )
            continue
        out.append(
            RolloutStatus.model_validate(
                {
                    **common,
                    **state.to_json(),
                    "last_analysis": state.last_analysis.to_json() if state.last_analysis else None,
                }
            )
        )
    return out


def rollout_status(controller: PolicyController, name: str) -> RolloutStatus:
    for status in rollout_statuses(controller):
        if status.name == name:
            return status
    raise RolloutNotFound(
        f"there is no Rollout named {name!r} being served; `breakwater rollout status` lists them"
    )


class RolloutCollector(Collector):
    def __init__(self, statuses: Callable[[], list[RolloutStatus]]) -> None:
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
