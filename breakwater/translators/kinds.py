"""Every kind a policy document may be, by the name its `kind:` field gives."""

from __future__ import annotations

from breakwater.translators.model import Document, Gateway, HTTPRoute, ResiliencePolicy, Service
from breakwater.translators.rollout_model import Rollout
from breakwater.translators.telemetry_model import Telemetry

KINDS: dict[str, type[Document]] = {
    "Service": Service,
    "ResiliencePolicy": ResiliencePolicy,
    "Gateway": Gateway,
    "HTTPRoute": HTTPRoute,
    "Rollout": Rollout,
    "Telemetry": Telemetry,
}
