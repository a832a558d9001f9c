"""Every kind a policy document may be, by its `apiVersion` and `kind`.

Two dialects share some kind names (`Gateway`, `HTTPRoute` are Breakwater's
and the Gateway API's), so a kind is known only with its apiVersion.
Breakwater's own kinds are validated as they are; the Gateway API's are
validated as written, then converted into Breakwater's (`gateway_api`).
"""

from __future__ import annotations

from pydantic import BaseModel

from breakwater.translators.gateway_api.model import (
    V1,
    V1BETA1,
    GatewayApiDocument,
    GatewayDocument,
    GRPCRouteDocument,
    HTTPRouteDocument,
    ReferenceGrantDocument,
)
from breakwater.translators.model import API_VERSION, Document, Gateway, ResiliencePolicy, Service
from breakwater.translators.rollout_model import Rollout
from breakwater.translators.route_model import HTTPRoute
from breakwater.translators.telemetry_model import Telemetry

KINDS: dict[str, type[Document]] = {
    "Service": Service,
    "ResiliencePolicy": ResiliencePolicy,
    "Gateway": Gateway,
    "HTTPRoute": HTTPRoute,
    "Rollout": Rollout,
    "Telemetry": Telemetry,
}
"""Breakwater's own kinds (apiVersion breakwater.dev/v1alpha1), by kind."""

GATEWAY_API_KINDS: dict[tuple[str, str], type[GatewayApiDocument]] = {
    (V1, "Gateway"): GatewayDocument,
    (V1, "HTTPRoute"): HTTPRouteDocument,
    (V1, "GRPCRoute"): GRPCRouteDocument,
    (V1BETA1, "ReferenceGrant"): ReferenceGrantDocument,
}
"""The Gateway API kinds Breakwater reads, by (apiVersion, kind)."""

DOCUMENT_KINDS: dict[tuple[str, str], type[BaseModel]] = {
    **{(API_VERSION, kind): model for kind, model in KINDS.items()},
    **GATEWAY_API_KINDS,
}
"""Every kind, by (apiVersion, kind): the one registry the decoder reads."""

AnyDocument = Document | GatewayApiDocument
"""A document valid on its own, of either dialect."""


def kind_of(document: AnyDocument) -> str:
    """The `kind:` the document was written with."""
    kind = getattr(document, "kind", None)
    return kind if isinstance(kind, str) else type(document).__name__
