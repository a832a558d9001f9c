"""The answers about what the served configuration holds: every HTTPRoute with its rules and
their weights (GET /v1/routes, ListRoutes), and why a service gets the settings it gets
(GET /v1/services/{service}/explain, ExplainService, the offline `breakwater explain`).

Beside `models` (whose base it uses) so that neither module grows past what one reader
holds; like `models`, it imports only Pydantic.
"""

from __future__ import annotations

from pydantic import JsonValue

from breakwater.controlplane.api.models import ApiModel, Revision, Weight
from breakwater.controlplane.state.weight_source import WeightSource


class RuleBackend(ApiModel):
    """One backend of a rule, with the weight Envoy is sent now."""

    label: str
    """The name weight writes use: its subset, or its service when it has none."""
    service: str
    subset: str | None
    weight: Weight


class RouteRuleStatus(ApiModel):
    """One rule of an HTTPRoute as it is served, overrides laid over the YAML."""

    index: int
    """What `rule` names in the weights API."""
    name: str | None
    backends: list[RuleBackend]
    source: WeightSource
    """yaml, or override when an API write is laid over the YAML."""
    revision: Revision
    """The revision a compare-and-set write of these weights must name (0: no override)."""
    rollout: str | None
    """The Rollout that drives these weights now (Progressing or Paused); writes are refused
    meanwhile."""


class RouteStatus(ApiModel):
    """One HTTPRoute of the served policy set."""

    name: str
    gateways: list[str]
    hostnames: list[str]
    rules: list[RouteRuleStatus]


class RoutesResponse(ApiModel):
    """GET /v1/routes, ListRoutes."""

    routes: list[RouteStatus]
    """In name order; none before a valid policy set is loaded."""


class ExplainedSettingStatus(ApiModel):
    """One effective setting: its value, who set it, what Envoy makes of it."""

    path: str
    """The policy field, camelCase as in the YAML (`circuitBreaker.openDuration`)."""
    value: JsonValue
    set_by: str
    """`ResiliencePolicy/NAME`, `HTTPRoute/NAME rule N`, or `Breakwater default`."""
    envoy: str
    """The Envoy field it becomes."""
    differs: str
    """Where Envoy's meaning differs from the Hystrix or Resilience4j one; empty when it does not."""


class ExplainSectionStatus(ApiModel):
    """The settings of one cluster (the service or one subset) or of one route rule sending to it."""

    title: str
    settings: list[ExplainedSettingStatus]
    """Empty: nothing is set and Envoy's defaults apply."""


class ExplainResponse(ApiModel):
    """GET /v1/services/{service}/explain, ExplainService, `breakwater explain DIR SERVICE`."""

    service: str
    sections: list[ExplainSectionStatus]
