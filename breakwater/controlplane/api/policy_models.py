"""The answers about the policy documents and what is served from them: every document with its
errors and, for a Gateway API route, its status (GET /v1/policies, ListPolicies, `breakwater
policies`), and each node group's snapshot (GET /v1/snapshots, ListSnapshots, `breakwater diff`).

Beside `models` (whose base it uses) so that neither module grows past what one reader
holds; like `models`, it imports only Pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from breakwater.controlplane.api.models import ApiModel, PolicyStatus

if TYPE_CHECKING:
    from breakwater.controlplane.state.documents import DocumentStatus
    from breakwater.translators.gateway_api.status import RouteStatus


# --- /v1/policies ------------------------------------------------------------------------


class RouteCondition(ApiModel):
    """One condition of a Gateway API route on one parent, with the Gateway API's reasons."""

    type: Literal["Accepted", "ResolvedRefs"]
    status: Literal["True", "False"]
    reason: str
    """Accepted: Accepted, NoMatchingParent, NotAllowedByListeners, NoMatchingListenerHostname,
    UnsupportedValue. ResolvedRefs: ResolvedRefs, BackendNotFound, RefNotPermitted, InvalidKind."""
    message: str


class RouteParentStatus(ApiModel):
    """The route's standing on one of its parentRefs (a Gateway, optionally one listener)."""

    namespace: str
    name: str
    section_name: str | None = None
    port: int | None = None
    conditions: list[RouteCondition]


class GatewayRouteStatus(ApiModel):
    """What became of a Gateway API HTTPRoute or GRPCRoute, as its `status.parents` would say."""

    kind: str
    namespace: str
    name: str
    parents: list[RouteParentStatus]

    @classmethod
    def of(cls, status: RouteStatus) -> GatewayRouteStatus:
        return cls(
            kind=status.kind,
            namespace=status.namespace,
            name=status.name,
            parents=[
                RouteParentStatus(
                    namespace=p.namespace,
                    name=p.name,
                    section_name=p.section_name,
                    port=p.port,
                    conditions=[
                        RouteCondition(
                            type=c.type,
                            status="True" if c.status else "False",
                            reason=c.reason,
                            message=c.message,
                        )
                        for c in p.conditions
                    ],
                )
                for p in status.parents
            ],
        )


class PolicyDocument(ApiModel):
    """One document of the policy directory, valid or not, and what the served config does with it."""

    kind: str
    name: str
    file: str
    line: int
    valid: bool
    errors: list[str]
    services: list[str]
    """The services it shapes or sends traffic to (none while it is invalid)."""
    proxies: list[str]
    """The connected proxies whose config it is part of."""
    status: PolicyStatus | None = None
    """For a served ResiliencePolicy: who holds it and what it does (without `per_proxy`)."""
    route_status: GatewayRouteStatus | None = None
    """For a Gateway API route of the served set: Accepted and ResolvedRefs, per parent."""

    @classmethod
    def of(
        cls, document: DocumentStatus, services: list[str], proxies: list[str]
    ) -> PolicyDocument:
        return cls(
            kind=document.kind,
            name=document.name,
            file=document.file,
            line=document.line,
            valid=document.valid,
            errors=list(document.errors),
            services=services,
            proxies=proxies,
        )


class PoliciesResponse(ApiModel):
    """GET /v1/policies, ListPolicies, `breakwater policies`."""

    policies: list[PolicyDocument]


# --- /v1/snapshots ----------------------------------------------------------------------------


class ServedResource(ApiModel):
    """One Envoy resource as a node group's proxies are served it."""

    type: str
    """cds, eds, lds or rds (the type URL's last part for any other type)."""
    name: str
    version: str
    """A hash of the encoded resource: equal versions, equal bytes."""
    config: dict[str, Any]
    """The resource in proto3 JSON with snake_case names, as `breakwater render` prints it."""


class ServedGroup(ApiModel):
    """The snapshot of one node group: the proxies that say the same about themselves."""

    node_cluster: str
    node_metadata: dict[str, str]
    """The string metadata a nodeSelector can match, as the proxies send it."""
    node_zone: str | None = None
    """The zone the proxies' locality names (`breakwater bootstrap --zone`), if any."""
    gateways: list[str]
    """The gateways whose listeners and routes the group is served."""
    version: str
    resources: list[ServedResource]
    """Sorted by type (push order) and name."""


class SnapshotsResponse(ApiModel):
    """GET /v1/snapshots, ListSnapshots, `breakwater diff`."""

    groups: list[ServedGroup]
    """Every node group a proxy has connected for, sorted by node cluster and metadata."""
