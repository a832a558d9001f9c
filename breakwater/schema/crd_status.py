"""The `status` Breakwater writes on its own kinds in Kubernetes: one model for the CRDs' schema
and for what the control plane writes.

`kubectl get rollout payments -o yaml` shows it: whether the object is valid (or the
located error that says which field and what is allowed), on how many of the proxies
whose config it is part of it is applied, and for a Rollout its phase, step, canary
weight and last analysis. Conditions follow `metav1.Condition`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Status(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )

    def to_kubernetes(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Condition(_Status):
    """One condition, as metav1.Condition has it."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field(max_length=32768)
    observed_generation: int = Field(ge=0)
    last_transition_time: str
    """RFC 3339, UTC."""


class ProxyCount(_Status):
    applied: int = Field(ge=0)
    """Proxies that acknowledged the config this object is part of."""
    total: int = Field(ge=0)
    """Proxies whose config it is part of."""


class Analysis(_Status):
    """The last judgement of the canary's numbers."""

    at: float
    verdict: str
    reason: str
    canary_requests: int
    canary_error_percent: float | None = None
    canary_latency_ms: float | None = None
    stable_error_percent: float | None = None


class RolloutProgress(_Status):
    phase: str
    """Pending, Progressing, Paused, Promoted, RolledBack or Aborted."""
    step: int
    steps: int
    canary_weight: int
    message: str
    last_analysis: Analysis | None = None


class BreakwaterStatus(_Status):
    """The status of a ResiliencePolicy, Rollout, Telemetry, Service, Gateway or HTTPRoute of
    breakwater.dev, written by the control plane that holds the Lease."""

    observed_generation: int = Field(ge=0)
    conditions: list[Condition]
    """Accepted: True (reason Valid) or False (reason Invalid, with every located error)."""
    proxies: ProxyCount
    rollout: RolloutProgress | None = None
    """For a Rollout."""


__all__ = ["Analysis", "BreakwaterStatus", "Condition", "ProxyCount", "RolloutProgress"]
