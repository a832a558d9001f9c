"""The answers about Rollouts and the change history: GET /v1/rollouts[/{name}], the rollout
commands, GET /v1/events, and the CLI's `rollout` and `history`.

Beside `models` (whose base it uses) so that neither module grows past what
one reader holds; like `models`, it imports only Pydantic and the rollouts'
words (`rollouts/phases.py`). `RolloutStatus.of` builds an answer from the
rollouts package's own `RolloutView`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args

from breakwater.controlplane.api.models import ApiModel
from breakwater.controlplane.rollouts.phases import ShownPhase, Verdict

if TYPE_CHECKING:
    from breakwater.controlplane.rollouts.status import RolloutView

ROLLOUT_PHASES: tuple[str, ...] = get_args(ShownPhase)


class RolloutEvent(ApiModel):
    at: float
    """Unix time."""
    phase: str
    step: int
    canary_weight: int
    message: str


class RolloutAnalysis(ApiModel):
    at: float
    verdict: Verdict
    reason: str
    canary_requests: int
    canary_error_percent: float | None
    canary_latency_ms: float | None
    stable_error_percent: float | None


class RolloutStatus(ApiModel):
    """One Rollout: where it is, what it decided last, and everything it did."""

    name: str
    route: str
    rule: int
    stable: str
    canary: str
    phase: ShownPhase
    """`Pending`: served but not started (waiting for its pre-rollout webhook or its driver)."""
    step: int
    """Index of the current step (equal to `steps` once promoted)."""
    steps: int
    canary_weight: int
    header_route: bool
    awaiting_ack: bool
    """The current step is written and not yet acknowledged by every proxy serving the route."""
    failed_intervals: int
    message: str
    last_analysis: RolloutAnalysis | None
    history: list[RolloutEvent]
    analyses: list[RolloutAnalysis] = []
    """The judgements of the last intervals, oldest first (at most 60): the canary's numbers
    over time."""

    @classmethod
    def of(cls, view: RolloutView) -> RolloutStatus:
        return cls.model_validate(view, from_attributes=True)


class RolloutsResponse(ApiModel):
    """GET /v1/rollouts, ListRollouts, `breakwater rollout status`."""

    rollouts: list[RolloutStatus]


class ChangeEntry(ApiModel):
    """One change that moved traffic."""

    at: float
    """Unix time."""
    who: str
    """The caller (`token@ADDRESS`, or `ADDRESS` without a token), a rollout, or the policy files."""
    what: str
    before: str
    after: str
    route: str | None
    rule: int | None


class ChangesResponse(ApiModel):
    """GET /v1/events, ListEvents, `breakwater history`: newest first."""

    events: list[ChangeEntry]
