"""Clusters joined from a shared encoding are the bytes of their own messages, and merges
shared by content still name each service's own policy."""

from __future__ import annotations

from breakwater.translators.envoy.build import Builder
from breakwater.translators.envoy.clusters import upstream_cluster
from breakwater.translators.envoy.encoded import Resource
from breakwater.translators.ir.resolve import resolve
from breakwater.xds_types import CLUSTER_TYPE
from tests.translators.support import policyset_from_text

API = "apiVersion: breakwater.dev/v1alpha1"


def _service(name: str, check: str, protocol: str = "http") -> str:
    return f"""{API}
kind: Service
metadata: {{name: {name}}}
spec:
  protocol: {protocol}
  endpoints:
    - {{address: 10.0.0.1, port: 8080, labels: {{track: stable}}}}
    - {{address: 10.0.0.2, port: 8080, labels: {{track: canary}}}}
  subsets: [{{name: stable, labels: {{track: stable}}}}, {{name: canary, labels: {{track: canary}}}}]
---
{API}
kind: ResiliencePolicy
metadata: {{name: {name}-policy}}
spec:
  targetRef: {{kind: Service, name: {name}}}
  bulkhead: {{maxConcurrentRequests: 100}}
  circuitBreaker: {{consecutiveErrors: 5}}
  retry: {{attempts: 3}}
{check}
---
{API}
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  gateways: [edge]
  hostnames: ["{name}.example"]
  rules:
    - backends:
        - {{service: {name}, subset: stable, weight: 90}}
        - {{service: {name}, subset: canary, weight: 10}}
"""


HTTP_CHECK = "  healthCheck: {interval: 5s, http: {path: /health}}"
NAMED_HOST = "  healthCheck: {interval: 5s, http: {path: /health, host: ledger.internal}}"
TCP_CHECK = "  healthCheck: {interval: 5s, tcp: {}}"

MESH = "\n---\n".join(
    [
        f"{API}\nkind: Gateway\nmetadata: {{name: edge}}\nspec: {{port: 10000}}",
        _service("payments", HTTP_CHECK),
        _service("orders", HTTP_CHECK),
        _service("a-longer-service-name-" + "x" * 30, HTTP_CHECK),
        _service("ledger", NAMED_HOST),
        _service("billing", NAMED_HOST),
        _service("stock", TCP_CHECK),
        _service("grpc-one", HTTP_CHECK, "grpc"),
        _service("grpc-two", HTTP_CHECK, "grpc"),
        _service("plain", ""),
        _service("bare", ""),
    ]
)


def test_each_cluster_is_the_encoding_of_its_own_message() -> None:
    policyset = policyset_from_text(MESH)
    group = resolve(policyset, {"edge"})
    built = {r.name: r for r in Builder(keep=False).build(group)[CLUSTER_TYPE]}
    assert len(group.upstreams.clusters) == 20
    for node in group.upstreams.clusters:
        alone = Resource.from_message(upstream_cluster(node))
        assert built[node.name].any_bytes == alone.any_bytes, node.name
        assert built[node.name].version == alone.version
        assert built[node.name].refs == alone.refs


def test_policies_equal_but_for_their_names_share_one_spec_and_keep_their_setters() -> None:
    policyset = policyset_from_text(MESH)
    payments = policyset.effective_for_cluster("payments", "stable")
    orders = policyset.effective_for_cluster("orders", "canary")
    assert payments.spec is orders.spec
    assert payments.provenance[("retry", "attempts")] == "ResiliencePolicy/payments-policy"
    assert orders.provenance[("retry", "attempts")] == "ResiliencePolicy/orders-policy"
    assert policyset.effective_for_cluster("ledger").spec is not payments.spec
