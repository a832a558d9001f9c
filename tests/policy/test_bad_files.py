"""Every kind of mistake a user can make is reported with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakwater.cli import main
from tests.support.bad_policies import errors_of, located_cases
from tests.support.errors import assert_located

# (case id, YAML, expected line, expected field, words the message must hold)
CASES = [
    (
        "typo-with-suggestion",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          circuitBreaker:
            failureRateTreshold: 50
        """,
        6,
        "spec.circuitBreaker.failureRateTreshold",
        ["unknown field", "did you mean 'failureRateThreshold'"],
    ),
    (
        "bad-duration",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          timeout:
            request: 3 seconds
        """,
        6,
        "spec.timeout.request",
        ["is not a duration", "250ms"],
    ),
    (
        "duration-without-unit",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          circuitBreaker:
            consecutiveErrors: 3
            openDuration: 5
        """,
        7,
        "spec.circuitBreaker.openDuration",
        ["with a unit"],
    ),
    (
        "percent-out-of-range",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          circuitBreaker:
            failureRateThreshold: 150
        """,
        6,
        "spec.circuitBreaker.failureRateThreshold",
        ["0 to 100"],
    ),
    (
        "wrong-type",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          retry:
            attempts: three
        """,
        6,
        "spec.retry.attempts",
        ["attempts is 'three'", "a whole number"],
    ),
    (
        "unknown-retry-condition",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          retry:
            attempts: 3
            retryOn: [5xx, sometimes]
        """,
        7,
        "spec.retry.retryOn[1]",
        ["retryOn[1] is 'sometimes'", "use one of", "gateway-error"],
    ),
    (
        "missing-required",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Gateway
        metadata: {name: inner}
        spec:
          address: 127.0.0.1
        """,
        4,
        "spec.port",
        ["required"],
    ),
    (
        "duplicate-name",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Service
        metadata:
          name: payments
        spec:
          endpoints: [{address: 127.0.0.1, port: 9000}]
        """,
        4,
        "metadata.name",
        ["already declared", "00-base.yaml:1"],
    ),
    (
        "unknown-service-in-route",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: HTTPRoute
        metadata: {name: r}
        spec:
          gateways: [edge]
          rules:
            - backends:
                - {service: paymentz}
        """,
        8,
        "spec.rules[0].backends[0].service",
        ["'paymentz' is not declared", "payments"],
    ),
    (
        "unknown-subset-in-route",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: HTTPRoute
        metadata: {name: r}
        spec:
          gateways: [edge]
          rules:
            - backends:
                - service: payments
                  subset: beta
        """,
        9,
        "spec.rules[0].backends[0].subset",
        ["no subset 'beta'", "stable, canary"],
    ),
    (
        "unknown-gateway",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: HTTPRoute
        metadata: {name: r}
        spec:
          gateways: [edge, outer]
          rules:
            - backends: [{service: payments}]
        """,
        5,
        "spec.gateways[1]",
        ["'outer' is not declared"],
    ),
    (
        "unknown-policy-target",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          targetRef:
            name: billing
          timeout: {request: 1s}
        """,
        6,
        "spec.targetRef.name",
        ["'billing' is not declared"],
    ),
    (
        "unknown-failover-target",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          targetRef: {name: payments}
          failover:
            to: payments-backup
        """,
        7,
        "spec.failover.to",
        ["'payments-backup' is not declared"],
    ),
    (
        "negative-weight",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: HTTPRoute
        metadata: {name: r}
        spec:
          gateways: [edge]
          rules:
            - backends:
                - {service: payments, subset: stable, weight: 90}
                - {service: payments, subset: canary, weight: -10}
        """,
        9,
        "spec.rules[0].backends[1].weight",
        ["weight is -10", "a whole number of 0 or more"],
    ),
    (
        "zero-weight-sum",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: HTTPRoute
        metadata: {name: r}
        spec:
          gateways: [edge]
          rules:
            - backends:
                - {service: payments, subset: stable, weight: 0}
                - {service: payments, subset: canary, weight: 0}
        """,
        7,
        "spec.rules[0]",
        ["add up to 0"],
    ),
    (
        "per-try-longer-than-request",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          targetRef: {name: payments}
          retry:
            attempts: 3
            perTryTimeout: 5s
          timeout:
            request: 3s
        """,
        8,
        "spec.retry.perTryTimeout",
        ["perTryTimeout 5s", "longer than timeout.request 3s"],
    ),
    (
        "unsafe-yaml-tag",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Service
        metadata: {name: evil}
        spec: !!python/object/apply:os.system ["true"]
        """,
        4,
        None,
        ["tag that constructs objects"],
    ),
    (
        "yaml-syntax",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Service
        metadata: {name: broken
        spec: {}
        """,
        4,
        None,
        ["YAML syntax error"],
    ),
    (
        "tls-relative-path",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Gateway
        metadata: {name: inner}
        spec:
          port: 8443
          tls: {certificateChain: certs/inner.pem, privateKey: /etc/tls/inner.key}
        """,
        6,
        "spec.tls.certificateChain",
        ["'certs/inner.pem' is not an absolute path", "Envoy host"],
    ),
    (
        "tls-key-without-chain",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Gateway
        metadata: {name: inner}
        spec:
          port: 8443
          tls:
            privateKey: /etc/tls/inner.key
        """,
        6,
        "spec.tls.certificateChain",
        ["required"],
    ),
    (
        "duplicate-key",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Gateway
        metadata: {name: inner}
        spec:
          port: 1000
          port: 2000
        """,
        6,
        "spec.port",
        ["appears twice"],
    ),
    (
        "unknown-kind",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: VirtualService
        metadata: {name: v}
        spec: {}
        """,
        2,
        "kind",
        ["'VirtualService' is not known", "HTTPRoute"],
    ),
    (
        "wrong-api-version",
        """\
        apiVersion: networking.istio.io/v1
        kind: Service
        metadata: {name: v}
        spec: {}
        """,
        1,
        "apiVersion",
        ["breakwater.dev/v1alpha1"],
    ),
    (
        "endpoint-hostname",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Service
        metadata: {name: web}
        spec:
          endpoints:
            - {address: web.internal, port: 80}
        """,
        6,
        "spec.endpoints[0]",
        ["not an IP address", "dns"],
    ),
    (
        "bad-name",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Gateway
        metadata: {name: Edge_2}
        spec: {port: 80}
        """,
        3,
        "metadata.name",
        ["not a valid name", "lowercase"],
    ),
    (
        "ring-hash-without-a-key",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          loadBalancer:
            policy: ring-hash
        """,
        5,
        "spec.loadBalancer",
        ["needs `hashOn`", "at random"],
    ),
    (
        "hash-key-on-least-request",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          loadBalancer:
            policy: least-request
            hashOn: {header: x-user}
        """,
        5,
        "spec.loadBalancer",
        ["`hashOn` is for ring-hash and maglev"],
    ),
    (
        "two-hash-keys",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          loadBalancer:
            policy: maglev
            hashOn: {header: x-user, sourceIp: true}
        """,
        7,
        "spec.loadBalancer.hashOn",
        ["exactly one of `header`, `cookie` or `sourceIp: true`"],
    ),
    (
        "slow-start-on-maglev",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          loadBalancer:
            policy: random
            slowStart: {window: 30s}
        """,
        5,
        "spec.loadBalancer",
        ["slow start only for round-robin and least-request"],
    ),
    (
        "service-scope-without-a-threshold",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          circuitBreaker:
            scope: service
            window: 10s
        """,
        5,
        "spec.circuitBreaker",
        ["`scope: service` needs `successRateThreshold`"],
    ),
    (
        "service-fields-without-service-scope",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          circuitBreaker:
            consecutiveErrors: 5
            successRateThreshold: 90
        """,
        5,
        "spec.circuitBreaker",
        ["`successRateThreshold` applies to the whole service: add `scope: service`"],
    ),
    (
        "unknown-lb-policy",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          loadBalancer:
            policy: least-conn
        """,
        6,
        "spec.loadBalancer.policy",
        ["least-request"],
    ),
]


@located_cases(CASES)
def test_mistake_is_located(
    tmp_path: Path, text: str, line: int, field: str | None, words: list[str]
) -> None:
    assert_located(errors_of(tmp_path, text), line, field, words)


def test_all_errors_are_collected_not_just_the_first(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          circuitBreaker:
            failureRateTreshold: 50
            openDuration: soon
          retry:
            attempts: 0
        """,
    )
    assert sorted(e.line for e in errors) == [6, 7, 9]


def test_billion_laughs_is_bounded(tmp_path: Path) -> None:
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        levels.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    text = "apiVersion: breakwater.dev/v1alpha1\nkind: Service\nmetadata: {name: x}\nspec:\n"
    text += "".join(f"  {line}\n" for line in levels)
    errors = errors_of(tmp_path, text)
    assert any("anchors are expanded" in e.message for e in errors)


def test_cli_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(Path(__file__).parents[2] / "deploy" / "examples")]) == 0
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: breakwater.dev/v1alpha1\nkind: Gateway\nmetadata: {name: g}\nspec: {port: 0}\n"
    )
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:4: Gateway/g: spec.port:" in err
    assert "nothing was applied" in err


def test_queue_of_zero_needs_a_concurrency_limit(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          targetRef: {name: payments}
          bulkhead:
            maxQueuedRequests: 0
        """,
    )
    (error,) = errors
    assert error.line == 7 and error.field == "spec.bulkhead.maxQueuedRequests"
    assert "would refuse every request" in error.message
