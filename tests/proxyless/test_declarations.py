"""What proxyless gRPC clients may be asked for, checked before anything is served, and the
bootstrap a gRPC client starts from."""

from __future__ import annotations

import json

import pytest
from envoy.config.route.v3 import route_pb2

from breakwater.cli import main
from breakwater.translators.documents import SourceText
from breakwater.translators.errors import PolicyError
from breakwater.translators.pipeline import policyset_from_texts
from breakwater.translators.proxyless import GRPC, Proxyless
from breakwater.translators.snapshot import translate
from breakwater.xds_types import ROUTE_TYPE

PAYMENTS = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  protocol: grpc
  endpoints: [{address: 10.0.0.1, port: 9000, labels: {version: stable}}]
  subsets: [{name: stable, labels: {version: stable}}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: web}
spec:
  endpoints: [{address: 10.0.0.2, port: 8080}]
"""


def errors(text: str) -> list[PolicyError]:
    return policyset_from_texts({"p.yaml": SourceText("p.yaml", PAYMENTS + text)}).errors


def route(rule: str, services: str = "[payments]") -> str:
    return f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: mesh}}
spec:
  services: {services}
  rules:
    - {rule}
"""


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (
            "{backends: [{service: payments}], rateLimit: {requests: 10, per: 1s}}",
            "spec.rules[0].rateLimit",
            "a local rate limit is not implemented by gRPC's xDS client",
        ),
        (
            "{matches: [{queryParams: [{name: a, value: b}]}], backends: [{service: payments}]}",
            "spec.rules[0].matches[0].queryParams",
            "skips routes that match on one",
        ),
        (
            "{backends: [{service: payments}, {service: payments, subset: stable}], "
            "sticky: {header: user-id}}",
            "spec.rules[0].sticky",
            "picks the weighted backend at random on each call",
        ),
        (
            "{matches: [{method: GET}], backends: [{service: payments}]}",
            "spec.rules[0].matches[0].method",
            "every gRPC call is a POST",
        ),
    ],
)
def test_a_mesh_rule_asking_what_grpc_cannot_do_is_located(
    rule: str, field: str, words: str
) -> None:
    (error,) = errors(route(rule))
    assert error.field == field, error
    assert words in error.message, error


def test_a_mesh_route_names_a_service_grpc_clients_are_served() -> None:
    found = errors(route("{backends: [{service: payments}]}", "[web, nowhere]"))
    assert [e.field for e in found] == ["spec.services[0]", "spec.services[1]"]
    assert "not served to proxyless gRPC clients" in found[0].message
    assert "'nowhere' is not declared" in found[1].message


def test_a_fleet_default_is_blamed_on_the_policy_that_set_it() -> None:
    policy = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: defaults}
spec:
  bulkhead: {maxConcurrentRequests: 10, maxConnections: 5}
  circuitBreaker: {consecutiveErrors: 5}
"""
    found = errors(route("{backends: [{service: payments}]}") + policy)
    assert sorted(e.field or "" for e in found) == [
        "spec.bulkhead.maxConnections",
        "spec.circuitBreaker.consecutiveErrors",
    ]
    assert all(e.name == "defaults" and "service 'payments'" in e.message for e in found)


def test_an_undeclared_grpc_service_keeps_what_envoy_does() -> None:
    policy = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: balance}
spec:
  targetRef: {name: payments}
  loadBalancer: {policy: least-request}
"""
    assert errors(policy) == []
    assert [e.field for e in errors(policy + route("{backends: [{service: payments}]}"))] == [
        "spec.loadBalancer.policy"
    ]


def test_proxyless_true_needs_grpc() -> None:
    text = PAYMENTS.replace(
        "metadata: {name: web}\nspec:\n", "metadata: {name: web}\nspec:\n  proxyless: true\n"
    )
    (error,) = policyset_from_texts({"p.yaml": SourceText("p.yaml", text)}).errors
    assert error.name == "web", error
    assert "set `protocol: grpc`" in error.message, error


def test_the_grpc_bootstrap(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "bootstrap",
                "--grpc",
                "--node-id",
                "checkout-1",
                "--node-cluster",
                "checkout",
                "--xds-address",
                "10.0.0.9:18000",
            ]
        )
        == 0
    )
    bootstrap = json.loads(capsys.readouterr().out)
    assert bootstrap == {
        "xds_servers": [
            {
                "server_uri": "10.0.0.9:18000",
                "channel_creds": [{"type": "insecure"}],
                "server_features": ["xds_v3"],
            }
        ],
        "node": {"id": "checkout-1", "cluster": "checkout"},
    }


def test_a_grpc_bootstrap_refuses_envoy_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "--grpc", "--node-id", "c", "--delta"]) != 0
    assert "--delta" in capsys.readouterr().err


def test_a_gamma_rule_whose_backends_did_not_resolve_is_left_out_for_grpc() -> None:
    gamma = """\
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: payments}]
  rules:
    - matches: [{method: {service: payments.Ledger}}]
      backendRefs: [{group: breakwater.dev, kind: ServiceSubset, name: payments.gone}]
    - backendRefs: [{group: breakwater.dev, kind: ServiceSubset, name: payments.stable}]
"""
    loaded = policyset_from_texts({"p.yaml": SourceText("p.yaml", PAYMENTS + gamma)})
    assert loaded.errors == []
    assert loaded.policyset is not None
    routes = translate(loaded.policyset, Proxyless(GRPC))[ROUTE_TYPE]
    (configuration,) = routes
    assert isinstance(configuration, route_pb2.RouteConfiguration)
    names = [r.name for r in configuration.virtual_hosts[0].routes]
    assert names == ["default.mesh/1/0", "payments/service"], names


def test_a_mesh_rules_own_retry_is_checked_as_a_policys() -> None:
    (error,) = errors(route("{backends: [{service: payments}], retry: {attempts: 3}}"))
    assert error.field == "spec.rules[0].retry.retryOn", error
    assert "retrying on 5xx, reset, connect-failure, refused-stream is not implemented" in (
        error.message
    )
    assert (
        errors(
            route("{backends: [{service: payments}], retry: {attempts: 3, retryOn: [unavailable]}}")
        )
        == []
    )


def test_one_attempt_sends_no_retry_policy() -> None:
    """gRPC refuses `num_retries: 0`, and with it the whole RouteConfiguration."""
    policy = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: once}
spec:
  targetRef: {name: payments}
  retry: {attempts: 1, retryOn: [unavailable]}
"""
    loaded = policyset_from_texts({"p.yaml": SourceText("p.yaml", PAYMENTS + policy)})
    assert loaded.policyset is not None, loaded.errors
    (configuration,) = translate(loaded.policyset, Proxyless(GRPC))[ROUTE_TYPE]
    assert isinstance(configuration, route_pb2.RouteConfiguration)
    (route,) = configuration.virtual_hosts[0].routes
    assert not route.route.HasField("retry_policy")
