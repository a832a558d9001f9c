"""The registration API's models: what an instance sends, and what it and a lister are told."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field, field_validator

from breakwater.controlplane.api.models import ApiModel, SparseModel
from breakwater.controlplane.state.instances import InstanceState
from breakwater.defaults import ENDPOINT_WEIGHT_LIMIT
from breakwater.translators.durations import Duration
from breakwater.translators.model_parts import Zone

if TYPE_CHECKING:
    from breakwater.controlplane.state.instances import Instance
    from breakwater.translators.model import Registration


class RegisterRequest(ApiModel):
    """The body of PUT /v1/services/{service}/instances/{address}:{port} (all optional)."""

    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] = Field(default_factory=dict)
    """What the Service's subsets select the instance by, e.g. {"track": "canary"}."""
    zone: Zone | None = None
    """The zone it runs in: its Envoy locality."""
    weight: int = Field(default=1, ge=1, le=ENDPOINT_WEIGHT_LIMIT)
    """Its share against the Service's other endpoints (Envoy's load_balancing_weight)."""
    ttl: Duration | None = None
    """How long it lives without a renewal, e.g. "30s"; default: the Service's
    `registration.ttl`."""

    @field_validator("ttl")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than zero, e.g. 30s")
        return value


class RegisteredInstance(SparseModel):
    """One registered instance of a Service."""

    service: str
    endpoint: str
    """ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)."""
    labels: dict[str, str]
    zone: str | None = None
    weight: int
    ttl_seconds: float
    state: InstanceState
    """serving, or draining: deregistered, DRAINING in EDS until it leaves at `expires_at`."""
    registered_at: float
    """Unix time of its first registration."""
    renewed_at: float
    """Unix time of its last registration or renewal."""
    expires_at: float
    """Unix time it leaves unless renewed (draining: when its drain ends)."""
    registered_by: str
    revision: int
    warnings: list[str] | None = None
    """What the registration should know, e.g. labels that match none of the subsets."""

    @classmethod
    def of(cls, instance: Instance, warnings: tuple[str, ...] = ()) -> RegisteredInstance:
        return cls(
            service=instance.service,
            endpoint=instance.endpoint,
            labels=dict(instance.labels),
            zone=instance.zone,
            weight=instance.weight,
            ttl_seconds=instance.ttl,
            state=instance.state,
            registered_at=instance.registered_at,
            renewed_at=instance.renewed_at,
            expires_at=instance.expires_at,
            registered_by=instance.by,
            revision=instance.revision,
            warnings=list(warnings) or None,
        )


class InstancesResponse(ApiModel):
    """GET /v1/services/{service}/instances, ListInstances, `breakwater endpoints list`."""

    service: str
    ttl_seconds: float
    """The Service's `registration.ttl`: an instance's TTL unless it registered with its own."""
    max_instances: int
    drain_seconds: float
    """How long a deregistered instance drains before it leaves."""
    instances: list[RegisteredInstance]
    """By address and port."""

    @classmethod
    def of(
        cls, service: str, registration: Registration, instances: list[Instance]
    ) -> InstancesResponse:
        return cls(
            service=service,
            ttl_seconds=registration.ttl.total_seconds(),
            max_instances=registration.max_instances,
            drain_seconds=registration.drain_time.total_seconds(),
            instances=[RegisteredInstance.of(i) for i in instances],
        )
