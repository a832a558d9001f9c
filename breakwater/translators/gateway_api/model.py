"""The Gateway API v1 documents Breakwater reads, as pydantic models, field for field.

Only what Breakwater can carry out is modelled, and unknown fields are
refused like everywhere else, so a field Breakwater would not honour is an
error with the list of the fields it does, never a silent no-op. The
shapes, defaults and enumerations are the Gateway API's (v1.2, Standard and
the Extended features listed in the README); `convert` turns a valid
document into Breakwater's own model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from breakwater.translators.gateway_api.common import (
    BREAKWATER_GROUP,
    CORE_GROUP,
    DEFAULT_NAMESPACE,
    GROUP,
    SERVICE_SUBSET,
    V1,
    V1BETA1,
    BackendObjectReference,
    Hostname,
    Namespace,
    ObjectMeta,
    ObjectName,
    ParentReference,
    SectionName,
)
from breakwater.translators.gateway_api.route_model import (
    GRPCMethodMatch,
    GRPCRouteRule,
    GRPCRouteSpec,
    HTTPHeaderFilter,
    HTTPHeaderMatch,
    HTTPPathModifier,
    HTTPQueryParamMatch,
    HTTPRouteFilter,
    HTTPRouteMatch,
    HTTPRouteRule,
    HTTPRouteSpec,
)
from breakwater.translators.model_parts import Model, Port

# --- Gateway ---------------------------------------------------------------------------


class RouteNamespaces(Model):
    from_: Literal["All", "Same"] = Field(default="Same", alias="from")


class RouteGroupKind(Model):
    group: str = GROUP
    kind: Literal["HTTPRoute", "GRPCRoute"]


class AllowedRoutes(Model):
    namespaces: RouteNamespaces = Field(default_factory=RouteNamespaces)
    kinds: list[RouteGroupKind] | None = None


class SecretObjectReference(Model):
    """A certificate Secret as the Gateway API names it; Breakwater reads no Secret (see
    `ListenerTLSConfig.certificate_refs`)."""

    group: str = CORE_GROUP
    kind: str = "Secret"
    name: ObjectName
    namespace: Namespace | None = None


class ListenerTLSConfig(Model):
    mode: Literal["Terminate", "Passthrough"] = "Terminate"
    certificate_refs: list[SecretObjectReference] = Field(default_factory=list, max_length=64)
    """Accepted and not read: Breakwater cannot read Kubernetes Secrets, so the files Envoy
    loads are named in `options` (`convert.CERTIFICATE_CHAIN_OPTION`, `PRIVATE_KEY_OPTION`)."""
    options: dict[str, str] = Field(default_factory=dict, max_length=16)


class Listener(Model):
    name: SectionName
    hostname: Hostname | None = None
    port: Port
    protocol: Literal["HTTP", "HTTPS"]
    tls: ListenerTLSConfig | None = None
    allowed_routes: AllowedRoutes = Field(default_factory=AllowedRoutes)


class GatewayAddress(Model):
    type: Literal["IPAddress"] = "IPAddress"
    value: str


class GatewaySpec(Model):
    gateway_class_name: ObjectName
    listeners: list[Listener] = Field(min_length=1, max_length=64)
    addresses: list[GatewayAddress] = Field(default_factory=list, max_length=1)

    @model_validator(mode="after")
    def _one_port(self) -> GatewaySpec:
        names = [listener.name for listener in self.listeners]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"listener names must be unique; {', '.join(repeated)} repeats")
        ports = sorted({listener.port for listener in self.listeners})
        if len(ports) > 1:
            raise ValueError(
                f"the listeners use ports {', '.join(map(str, ports))}; a Breakwater gateway is "
                "one Envoy listener on one port: give each port its own Gateway"
            )
        return self


# --- ReferenceGrant ------------------------------------------------------------------------------------


class ReferenceGrantFrom(Model):
    group: str
    kind: str
    namespace: Namespace


class ReferenceGrantTo(Model):
    group: str
    kind: str
    name: ObjectName | None = None


class ReferenceGrantSpec(Model):
    from_: list[ReferenceGrantFrom] = Field(alias="from", min_length=1, max_length=16)
    to: list[ReferenceGrantTo] = Field(min_length=1, max_length=16)


# --- documents ---------------------------------------------------------------------------------------


class GatewayApiDocument(Model):
    """A Gateway API object as read; `status` is what a cluster wrote back, and is not read."""

    api_version: str
    kind: str
    metadata: ObjectMeta
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The name Breakwater gives it inside (and in Envoy): `<namespace>.<name>`."""
        return f"{self.metadata.namespace}.{self.metadata.name}"

    @property
    def namespace(self) -> str:
        return self.metadata.namespace


class GatewayDocument(GatewayApiDocument):
    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["Gateway"]
    spec: GatewaySpec


class HTTPRouteDocument(GatewayApiDocument):
    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["HTTPRoute"]
    spec: HTTPRouteSpec


class GRPCRouteDocument(GatewayApiDocument):
    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["GRPCRoute"]
    spec: GRPCRouteSpec


class ReferenceGrantDocument(GatewayApiDocument):
    api_version: Literal["gateway.networking.k8s.io/v1beta1"]
    kind: Literal["ReferenceGrant"]
    spec: ReferenceGrantSpec


RouteDocument = HTTPRouteDocument | GRPCRouteDocument


__all__ = [
    "BREAKWATER_GROUP",
    "CORE_GROUP",
    "DEFAULT_NAMESPACE",
    "GROUP",
    "SERVICE_SUBSET",
    "V1",
    "V1BETA1",
    "BackendObjectReference",
    "GRPCMethodMatch",
    "GRPCRouteDocument",
    "GRPCRouteRule",
    "GatewayApiDocument",
    "GatewayDocument",
    "HTTPHeaderFilter",
    "HTTPHeaderMatch",
    "HTTPPathModifier",
    "HTTPQueryParamMatch",
    "HTTPRouteDocument",
    "HTTPRouteFilter",
    "HTTPRouteMatch",
    "HTTPRouteRule",
    "Listener",
    "ListenerTLSConfig",
    "ParentReference",
    "ReferenceGrantDocument",
    "RouteDocument",
]
