"""ResiliencePolicy, Rollout and Telemetry attach to Gateway API objects by a Kubernetes targetRef.

A reference written the Gateway API's way (`group`, `kind`, `namespace`, `name`)
means the object Breakwater names `<namespace>.<name>`; Services are named as
Kubernetes names them (group "", namespace default) or as a ServiceSubset.
"""

from __future__ import annotations

from breakwater.translators.pipeline import SourceText, policyset_from_texts
from breakwater.translators.policyset import PolicySet
from breakwater.translators.snapshot import translate
from breakwater.xds_types import LISTENER_TYPE
from tests.support.errors import assert_located
from tests.translators.support import case_path

CASE = case_path("gateway_api_http").read_text()

ATTACHED = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {name: edge-logs}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: edge}
  accessLog: {to: [stderr]}
---
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {name: checkout-spans}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: checkout, namespace: default}
  tracing: {samplingPercent: 5}
---
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {name: checkout}
spec:
  routeRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: checkout, rule: 1}
  stable: stable
  canary: canary
  stepWeight: 10
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: canary-retries}
spec:
  targetRef: {group: breakwater.dev, kind: ServiceSubset, name: payments.canary}
  circuitBreaker: {consecutiveErrors: 3}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: payments-timeouts}
spec:
  targetRef: {group: "", kind: Service, name: payments, namespace: default}
  timeout: {connect: 1s}
"""


def loaded(text: str) -> PolicySet:
    result = policyset_from_texts({"p.yaml": SourceText("p.yaml", text)})
    assert result.policyset is not None, "\n".join(map(str, result.errors))
    return result.policyset


def test_every_kind_attaches_to_gateway_api_objects_by_target_ref() -> None:
    policyset = loaded(CASE + ATTACHED)
    gateway_layers = [who for who, _ in policyset.telemetry_layers("default.edge")]
    assert gateway_layers == ["Telemetry/edge-logs"]
    route_layers = policyset.telemetry_layers("default.edge", "default.checkout")
    assert [who for who, _ in route_layers] == ["Telemetry/edge-logs", "Telemetry/checkout-spans"]
    assert policyset.rollouts["checkout"].spec.route_ref.name == "default.checkout"
    canary = policyset.effective_for_cluster("payments", "canary")
    assert canary.provenance[("circuit_breaker", "consecutive_errors")] == (
        "ResiliencePolicy/canary-retries"
    )
    assert canary.provenance[("timeout", "connect")] == "ResiliencePolicy/payments-timeouts"
    listener = translate(policyset, {"default.edge"})[LISTENER_TYPE][0]
    assert "StderrAccessLog" in str(listener)


def test_a_service_outside_default_is_that_namespaces_service_and_none_is_declared_in_files() -> (
    None
):
    text = CASE + ATTACHED.replace(
        "name: payments, namespace: default", "name: payments, namespace: shop"
    )
    result = policyset_from_texts({"p.yaml": SourceText("p.yaml", text)})
    line = (
        text.splitlines().index(
            '  targetRef: {group: "", kind: Service, name: payments, namespace: shop}'
        )
        + 1
    )
    assert_located(result.errors, line, "spec.targetRef.name", ["'shop.payments' is not declared"])
