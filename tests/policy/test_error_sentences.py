"""Every kind of mistake a model can find is told in a sentence, not in pydantic's words.

Each case is a real document with one mistake of one pydantic error type;
its error must name the field, the value given where there is one, and what
is allowed, and hold none of pydantic's stock phrases.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from breakwater.translators.errors import PolicyError
from tests.support.policies import load_policy_dir

STOCK_PHRASES = ("Input should", "Field required", "Value error,", "validation error", "Assertion")


def doc(kind: str, body: str, metadata: str = "{name: x}") -> str:
    return (
        f"apiVersion: breakwater.dev/v1alpha1\nkind: {kind}\nmetadata: {metadata}\n"
        + textwrap.dedent(body)
    )


def endpoints(extra: str = "") -> str:
    return "spec:\n  endpoints: [{address: 127.0.0.1, port: 8080}]\n" + extra


# (pydantic's error type, document, field, words the error must hold)
CASES = [
    (
        "greater_than_equal",
        doc("ResiliencePolicy", "spec:\n  retry:\n    attempts: 0\n"),
        "spec.retry.attempts",
        ["attempts is 0", "a whole number of 1 or more"],
    ),
    (
        "greater_than",
        doc(
            "ResiliencePolicy",
            "spec:\n  loadBalancer:\n    slowStart: {window: 10s, aggression: 0}\n",
        ),
        "spec.loadBalancer.slowStart.aggression",
        ["aggression is 0", "a number above 0"],
    ),
    (
        "less_than_equal",
        doc("Service", "spec:\n  endpoints: [{address: 127.0.0.1, port: 70000}]\n"),
        "spec.endpoints[0].port",
        ["port is 70000", "65535 or less"],
    ),
    (
        "int_parsing",
        doc("Gateway", "spec:\n  port: ten\n"),
        "spec.port",
        ["port is 'ten'", "a whole number"],
    ),
    (
        "int_from_float",
        doc("ResiliencePolicy", "spec:\n  bulkhead: {maxConcurrentRequests: 1.5}\n"),
        "spec.bulkhead.maxConcurrentRequests",
        ["maxConcurrentRequests is 1.5", "a whole number"],
    ),
    (
        "float_parsing",
        doc("ResiliencePolicy", "spec:\n  circuitBreaker: {failureRateThreshold: half}\n"),
        "spec.circuitBreaker.failureRateThreshold",
        ["failureRateThreshold is 'half'", "a number"],
    ),
    (
        "string_type",
        doc("Gateway", "spec:\n  port: 10000\n", metadata="{name: 5}"),
        "metadata.name",
        ["name is 5", "text"],
    ),
    (
        "bool_parsing",
        doc("Telemetry", "spec:\n  tracing: {disabled: maybe}\n"),
        "spec.tracing.disabled",
        ["disabled is 'maybe'", "true or false"],
    ),
    (
        "literal_error",
        doc("ResiliencePolicy", "spec:\n  circuitBreaker: {scope: cluster}\n"),
        "spec.circuitBreaker.scope",
        ["scope is 'cluster'", "'host' or 'service'"],
    ),
    (
        "missing",
        doc("Rollout", "spec:\n  stable: stable\n  canary: canary\n  stepWeight: 10\n"),
        "spec.routeRef",
        ["routeRef", "is required", "add it"],
    ),
    (
        "extra_forbidden",
        doc("ResiliencePolicy", "spec:\n  retry: {atempts: 2}\n"),
        "spec.retry.atempts",
        ["unknown field 'atempts'", "did you mean 'attempts'"],
    ),
    (
        "too_short",
        doc(
            "HTTPRoute",
            "spec:\n  gateways: [edge]\n  hostnames: []\n  rules: [{backends: [{service: payments}]}]\n",
        ),
        "spec.hostnames",
        ["hostnames has 0 items", "at least 1"],
    ),
    (
        "dict_too_short",
        doc("Service", endpoints("  subsets: [{name: s, labels: {}}]\n")),
        "spec.subsets[0].labels",
        ["labels has 0 entries", "at least 1"],
    ),
    (
        "string_too_short",
        doc(
            "ResiliencePolicy", "spec:\n  loadBalancer: {policy: ring-hash, hashOn: {header: ''}}\n"
        ),
        "spec.loadBalancer.hashOn.header",
        ["header is ''", "at least 1 character"],
    ),
    (
        "string_too_long",
        doc("Service", "spec:\n  dns: {name: " + "a" * 300 + ", port: 80}\n"),
        "spec.dns.name",
        ["name is 'aaa", "at most 253 characters"],
    ),
    (
        "string_pattern_mismatch",
        doc(
            "ResiliencePolicy",
            "spec:\n  healthCheck: {http: {path: health}}\n",
        ),
        "spec.healthCheck.http.path",
        ["path is 'health'", "starting with '/'"],
    ),
    (
        "union",
        doc(
            "Rollout",
            "spec:\n  routeRef: {name: r, rule: [1]}\n  stable: a\n  canary: b\n  stepWeight: 10\n",
        ),
        "spec.routeRef.rule",
        ["rule is [1]", "a whole number", "text"],
    ),
    (
        "union_value_error",
        doc(
            "Rollout",
            "spec:\n  routeRef: {name: r, rule: Main Rule}\n  stable: a\n  canary: b\n"
            "  stepWeight: 10\n",
        ),
        "spec.routeRef.rule",
        ["'Main Rule' is not a valid name", "lowercase letters"],
    ),
    (
        "value_error",
        doc("ResiliencePolicy", "spec:\n  timeout: {request: 5}\n"),
        "spec.timeout.request",
        ["duration such as 250ms", "got 5"],
    ),
    (
        "model_type",
        doc("ResiliencePolicy", "spec:\n  retry: 5\n"),
        "spec.retry",
        ["retry is 5", "a mapping", "attempts"],
    ),
    (
        "list_type",
        doc("Service", "spec:\n  endpoints: everywhere\n"),
        "spec.endpoints",
        ["endpoints is 'everywhere'", "a list"],
    ),
    (
        "dict_type",
        doc("Service", endpoints("  subsets: [{name: s, labels: stable}]\n")),
        "spec.subsets[0].labels",
        ["labels is 'stable'", "a mapping"],
    ),
]


def _errors(tmp_path: Path, text: str) -> list[PolicyError]:
    (tmp_path / "bad.yaml").write_text(text)
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None
    return errors


@pytest.mark.parametrize(
    ("text", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_error_type_is_a_sentence(
    tmp_path: Path, text: str, field: str, words: list[str]
) -> None:
    errors = _errors(tmp_path, text)
    for error in errors:
        for phrase in STOCK_PHRASES:
            assert phrase not in str(error), str(error)
    on_field = [e for e in errors if e.field == field]
    assert len(on_field) == 1, [str(e) for e in errors]
    (error,) = on_field
    for word in words:
        assert word in error.message, str(error)


def test_a_merged_policy_is_told_in_a_sentence_too(tmp_path: Path) -> None:
    """Policies valid one by one can merge into an invalid whole: told the same way."""
    base = doc("Service", endpoints())
    fleet = doc(
        "ResiliencePolicy",
        "spec:\n  loadBalancer: {policy: ring-hash, hashOn: {sourceIp: true}}\n",
        metadata="{name: fleet}",
    )
    service = doc(
        "ResiliencePolicy",
        "spec:\n  targetRef: {name: x}\n  loadBalancer: {policy: round-robin}\n",
        metadata="{name: mine}",
    )
    errors = _errors(tmp_path, "---\n".join([base, fleet, service]))
    assert errors
    for error in errors:
        for phrase in STOCK_PHRASES:
            assert phrase not in str(error), str(error)
