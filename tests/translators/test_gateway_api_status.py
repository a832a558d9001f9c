"""Each Gateway API route's status: the conditions and reasons the Gateway API defines.

A reference that does not resolve is not an error in the Gateway API's world:
the set is served, the route's status says what is missing, and only what
resolved reaches Envoy.
"""

from __future__ import annotations

import pytest

from breakwater.translators.gateway_api.status import Condition, GatewayApiState
from breakwater.translators.pipeline import SourceText, policyset_from_texts
from breakwater.translators.policyset import PolicySet

SERVICES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  endpoints: [{address: 10.0.0.1, port: 80, labels: {track: stable}}]
  subsets: [{name: stable, labels: {track: stable}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: breakwater
  listeners:
    - {name: shop, port: 8080, protocol: HTTP, hostname: "*.shop.example"}
    - name: api
      port: 8080
      protocol: HTTP
      hostname: api.example
      allowedRoutes: {namespaces: {from: All}, kinds: [{kind: HTTPRoute}]}
"""


def route(spec: str, namespace: str = "default", kind: str = "HTTPRoute") -> str:
    return (
        f"---\napiVersion: gateway.networking.k8s.io/v1\nkind: {kind}\n"
        f"metadata: {{name: r, namespace: {namespace}}}\nspec:\n{spec}"
    )


def served(text: str) -> PolicySet:
    loaded = policyset_from_texts({"p.yaml": SourceText("p.yaml", text)})
    assert loaded.policyset is not None, "\n".join(map(str, loaded.errors))
    return loaded.policyset


def conditions(
    state: GatewayApiState, kind: str = "HTTPRoute", name: str = "default.r"
) -> list[Condition]:
    status = state.status_of(kind, name)
    assert status is not None
    return [c for parent in status.parents for c in parent.conditions]


BACKEND = "  rules: [{backendRefs: [{name: payments, port: 80}]}]\n"

ACCEPTED_CASES = [
    # (spec, namespace, kind, reason, words in the message)
    ("  parentRefs: [{name: edge}]\n" + BACKEND, "default", "HTTPRoute", "Accepted", []),
    (
        "  parentRefs: [{name: nowhere}]\n" + BACKEND,
        "default",
        "HTTPRoute",
        "NoMatchingParent",
        ["'nowhere'"],
    ),
    (
        "  parentRefs: [{group: '', kind: Service, name: payments}]\n" + BACKEND,
        "default",
        "HTTPRoute",
        "NotAllowedByListeners",
        ["not served to proxyless gRPC clients"],
    ),
    (
        "  parentRefs: [{group: example.com, kind: Mesh, name: payments}]\n" + BACKEND,
        "default",
        "HTTPRoute",
        "UnsupportedValue",
        ["neither a Gateway nor a Service"],
    ),
    (
        "  parentRefs: [{name: edge, sectionName: admin}]\n" + BACKEND,
        "default",
        "HTTPRoute",
        "NoMatchingParent",
        ["sectionName 'admin'"],
    ),
    (
        "  parentRefs: [{name: edge, port: 9090}]\n" + BACKEND,
        "default",
        "HTTPRoute",
        "NoMatchingParent",
        ["port 9090"],
    ),
    (
        "  parentRefs: [{name: edge, namespace: default, sectionName: shop}]\n" + BACKEND,
        "web",
        "HTTPRoute",
        "NotAllowedByListeners",
        ["namespace 'web'"],
    ),
    (
        "  parentRefs: [{name: edge, sectionName: api}]\n"
        "  rules: [{backendRefs: [{name: payments, port: 80}]}]\n",
        "default",
        "GRPCRoute",
        "NotAllowedByListeners",
        ["GRPCRoutes"],
    ),
    (
        "  parentRefs: [{name: edge, sectionName: shop}]\n  hostnames: [other.example]\n" + BACKEND,
        "default",
        "HTTPRoute",
        "NoMatchingListenerHostname",
        ["*.shop.example"],
    ),
]


@pytest.mark.parametrize(("spec", "namespace", "kind", "reason", "words"), ACCEPTED_CASES)
def test_accepted_says_why_a_route_is_not_attached(
    spec: str, namespace: str, kind: str, reason: str, words: list[str]
) -> None:
    policyset = served(SERVICES + route(spec, namespace, kind))
    accepted = conditions(policyset.gateway_api, kind, f"{namespace}.r")[0]
    assert (accepted.type, accepted.reason) == ("Accepted", reason)
    assert accepted.status is (reason == "Accepted")
    for word in words:
        assert word in accepted.message
    assert (f"{namespace}.r" in policyset.routes) is (reason == "Accepted")


RESOLVED_CASES = [
    ("[{name: payments, port: 80}]", "ResolvedRefs", []),
    ("[{name: ledger, port: 80}]", "BackendNotFound", ["'ledger'"]),
    (
        "[{group: breakwater.dev, kind: ServiceSubset, name: payments.canary}]",
        "BackendNotFound",
        ["'canary'"],
    ),
    ("[{group: example.com, kind: Bucket, name: payments}]", "InvalidKind", ["ServiceSubset"]),
    ("[{name: payments, namespace: billing, port: 80}]", "RefNotPermitted", ["ReferenceGrant"]),
]


@pytest.mark.parametrize(("refs", "reason", "words"), RESOLVED_CASES)
def test_resolved_refs_says_which_backend_is_missing(
    refs: str, reason: str, words: list[str]
) -> None:
    spec = (
        "  parentRefs: [{name: edge}]\n"
        f"  rules:\n    - backendRefs: {refs}\n"
        "    - matches: [{path: {type: PathPrefix, value: /ok}}]\n"
        "      backendRefs: [{group: breakwater.dev, kind: ServiceSubset, name: payments.stable}]\n"
    )
    policyset = served(SERVICES + route(spec))
    resolved = conditions(policyset.gateway_api)[1]
    assert (resolved.type, resolved.reason, resolved.status) == (
        "ResolvedRefs",
        reason,
        reason == "ResolvedRefs",
    )
    for word in words:
        assert word in resolved.message
    first, second = policyset.routes["default.r"].spec.rules
    # A rule left with no backend answers 500 itself; the rest of the route is served.
    assert [b.subset for b in second.backends] == ["stable"]
    if reason == "ResolvedRefs":
        assert [b.service for b in first.backends] == ["payments"]
    else:
        assert first.backends == []
        assert first.direct_response is not None and first.direct_response.status == 500


def test_a_reference_grant_lets_a_route_reach_across_namespaces() -> None:
    grant = """\
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: web, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]
  to: [{group: "", kind: Service, name: payments}]
"""
    spec = (
        "  parentRefs: [{name: edge, namespace: default, sectionName: api}]\n"
        "  rules: [{backendRefs: [{name: payments, namespace: default}]}]\n"
    )
    policyset = served(SERVICES + grant + route(spec, "web"))
    assert [c.reason for c in conditions(policyset.gateway_api, name="web.r")] == [
        "Accepted",
        "ResolvedRefs",
    ]
    assert policyset.routes["web.r"].spec.hostnames == ["api.example"]
    # A grant for another namespace lets nothing through.
    policyset = served(
        SERVICES + grant.replace("namespace: web", "namespace: shop") + route(spec, "web")
    )
    assert conditions(policyset.gateway_api, name="web.r")[1].reason == "RefNotPermitted"


def test_hostnames_are_those_the_route_and_its_listeners_share() -> None:
    spec = (
        "  parentRefs: [{name: edge}]\n"
        "  hostnames: [pay.shop.example, '*.example', other.test]\n" + BACKEND
    )
    policyset = served(SERVICES + route(spec))
    # *.shop.example takes pay.shop.example, and is itself under *.example; so is api.example.
    assert policyset.routes["default.r"].spec.hostnames == [
        "pay.shop.example",
        "*.shop.example",
        "api.example",
    ]
