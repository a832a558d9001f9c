"""Every kind `serve --kubernetes` reads: its API path, and the RBAC rule reading it needs.

A refused list or watch is reported as the rule that is missing (verb, API group,
resource, namespace), because that is what the operator has to add to the
control plane's Role: the API server's own message names the user, not the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

CORE = ""
DISCOVERY = "discovery.k8s.io"
GATEWAY_API = "gateway.networking.k8s.io"
BREAKWATER = "breakwater.dev"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    labels_only: bool = False
    """Only the objects' names and labels are kept (Pods: the largest objects of a cluster, of
    which Breakwater reads the labels alone)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None) -> str:
        """The collection's URL path; `namespace` None: every namespace (or a cluster-scoped kind)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"

    def missing_rule(self, verb: str, namespace: str | None) -> str:
        """The RBAC rule to add when `verb` on this kind is refused, as a sentence."""
        where = (
            f"a Role in namespace {namespace!r} (or a ClusterRole)"
            if namespace is not None and self.namespaced
            else "a ClusterRole"
        )
        return (
            f"Kubernetes refused to {verb} {self.plural} ({self.api_version} {self.kind}) "
            f"{f'in namespace {namespace!r}' if namespace and self.namespaced else 'cluster-wide'}"
            f": give the control plane's service account {where} bound to it with the rule "
            f'apiGroups: ["{self.group}"], resources: ["{self.plural}"], '
            f'verbs: ["get", "list", "watch"]'
        )


SERVICE = Kind(CORE, "v1", "Service", "services")
POD = Kind(CORE, "v1", "Pod", "pods", labels_only=True)
ENDPOINT_SLICE = Kind(DISCOVERY, "v1", "EndpointSlice", "endpointslices")
GATEWAY_CLASS = Kind(GATEWAY_API, "v1", "GatewayClass", "gatewayclasses", namespaced=False)
GATEWAY = Kind(GATEWAY_API, "v1", "Gateway", "gateways")
HTTP_ROUTE = Kind(GATEWAY_API, "v1", "HTTPRoute", "httproutes")
GRPC_ROUTE = Kind(GATEWAY_API, "v1", "GRPCRoute", "grpcroutes")
REFERENCE_GRANT = Kind(GATEWAY_API, "v1beta1", "ReferenceGrant", "referencegrants")
BREAKWATER_SERVICE = Kind(BREAKWATER, "v1alpha1", "Service", "services")
RESILIENCE_POLICY = Kind(BREAKWATER, "v1alpha1", "ResiliencePolicy", "resiliencepolicies")
ROLLOUT = Kind(BREAKWATER, "v1alpha1", "Rollout", "rollouts")
TELEMETRY = Kind(BREAKWATER, "v1alpha1", "Telemetry", "telemetries")

GATEWAY_API_KINDS = (GATEWAY, HTTP_ROUTE, GRPC_ROUTE, REFERENCE_GRANT)
"""Read as written, each object one document of the Gateway API dialect."""
BREAKWATER_KINDS = (RESILIENCE_POLICY, ROLLOUT, TELEMETRY)
"""Breakwater's own CRDs read as written. Its `Service` is not among them: on Kubernetes it
declares what a core Service lacks (protocol, label subsets) and is merged into it."""
WATCHED = (
    SERVICE,
    ENDPOINT_SLICE,
    POD,
    BREAKWATER_SERVICE,
    GATEWAY_CLASS,
    *GATEWAY_API_KINDS,
    *BREAKWATER_KINDS,
)
"""Everything `serve --kubernetes` lists and watches: its Role needs get, list and watch on each."""

__all__ = [
    "BREAKWATER_KINDS",
    "BREAKWATER_SERVICE",
    "ENDPOINT_SLICE",
    "GATEWAY_API_KINDS",
    "GATEWAY_CLASS",
    "POD",
    "SERVICE",
    "WATCHED",
    "Kind",
]
