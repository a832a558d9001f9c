"""Mistakes in Gateway API documents get the same located errors as Breakwater's own kinds.

File, line, the field as the user wrote it (`backendRefs`, not Breakwater's
`backends`), and a sentence that says what is allowed, whether the mistake is
found in the document alone, by the internal model it converts into, or
across documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from breakwater.translators.errors import PolicyError
from tests.support.bad_policies import SERVICE
from tests.support.errors import assert_located
from tests.support.policies import load_policy_dir

GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: breakwater
  listeners: [{name: http, port: 8080, protocol: HTTP}]
"""

ROUTE_HEAD = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: web}]
  rules:
"""
"""An HTTPRoute up to its rules; a case's rule starts on line 7."""


CHAIN = "breakwater.dev/certificate-chain"
KEY = "breakwater.dev/private-key"


def https_gateway(listeners: str) -> str:
    """A Gateway named `tls` with the given listeners (YAML, indented four); they start on line 7."""
    return (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: tls}\nspec:\n"
        "  gatewayClassName: breakwater\n  listeners:\n" + listeners + "\n"
    )


def rule(text: str) -> str:
    return ROUTE_HEAD + "".join(f"    {line}\n" for line in text.strip("\n").split("\n"))


def errors(tmp_path: Path, text: str) -> list[PolicyError]:
    (tmp_path / "00-base.yaml").write_text(SERVICE + "---\n" + GATEWAY)
    (tmp_path / "bad.yaml").write_text(text)
    policyset, found = load_policy_dir(tmp_path)
    assert policyset is None, "a bad file must not produce a PolicySet"
    return [e for e in found if e.file.endswith("bad.yaml")]


# (case id, YAML, expected line, expected field, words the message must hold)
CASES = [
    (
        "typo-with-suggestion",
        rule("- backendRef: [{name: payments}]"),
        7,
        "spec.rules[0].backendRef",
        ["unknown field", "did you mean 'backendRefs'", "HTTPRoute/default.r"],
    ),
    (
        "path-type-not-in-the-gateway-api",
        rule("- matches: [{path: {type: Prefix, value: /x}}]\n  backendRefs: [{name: payments}]"),
        7,
        "spec.rules[0].matches[0].path.type",
        ["type is 'Prefix'", "use one of", "'PathPrefix'", "'RegularExpression'"],
    ),
    (
        "duration-without-the-gateway-api-form",
        rule("- backendRefs: [{name: payments}]\n  timeouts: {request: 1.5s}"),
        8,
        "spec.rules[0].timeouts.request",
        ["not a Gateway API duration", "1m30s"],
    ),
    (
        "backend-request-longer-than-request",
        rule("- backendRefs: [{name: payments}]\n  timeouts: {request: 1s, backendRequest: 2s}"),
        8,
        "spec.rules[0].timeouts",
        ["`backendRequest` must not be longer than `request`"],
    ),
    (
        "filter-settings-of-another-type",
        rule(
            "- backendRefs: [{name: payments}]\n"
            "  filters:\n"
            "    - type: RequestHeaderModifier\n"
            "      responseHeaderModifier: {set: [{name: x, value: y}]}"
        ),
        9,
        "spec.rules[0].filters[0]",
        ["needs `requestHeaderModifier`"],
    ),
    (
        "redirect-beside-backends",
        rule(
            "- backendRefs: [{name: payments}]\n"
            "  filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]"
        ),
        7,
        "spec.rules[0]",
        ["RequestRedirect", "remove `backendRefs` or the redirect"],
    ),
    (
        "prefix-replacement-of-an-exact-match",
        rule(
            "- matches: [{path: {type: Exact, value: /x}}]\n"
            "  backendRefs: [{name: payments}]\n"
            "  filters:\n"
            "    - type: URLRewrite\n"
            "      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /y}}"
        ),
        7,
        "spec.rules[0]",
        ["ReplacePrefixMatch", "matches[0] is a Exact match", "ReplaceFullPath"],
    ),
    (
        "regex-envoy-cannot-run",
        rule(
            "- matches: [{path: {type: RegularExpression, value: '/(?=x)'}}]\n"
            "  backendRefs: [{name: payments}]"
        ),
        7,
        "spec.rules[0].matches[0]",
        ["lookaround", "RE2"],
    ),
    (
        "weights-that-add-up-to-nothing",
        rule("- backendRefs: [{name: payments, weight: 0}]"),
        7,
        "spec.rules[0]",
        ["weights add up to 0"],
    ),
    (
        "header-change-envoy-forbids",
        rule(
            "- backendRefs: [{name: payments}]\n"
            "  filters:\n"
            "    - type: RequestHeaderModifier\n"
            "      requestHeaderModifier: {set: [{name: ':path', value: /x}]}"
        ),
        10,
        "spec.rules[0].filters[0].requestHeaderModifier",
        ["pseudo-header"],
    ),
    (
        "two-mirrors",
        rule(
            "- backendRefs: [{name: payments}]\n"
            "  filters:\n"
            "    - {type: RequestMirror, requestMirror: {backendRef: {name: payments}}}\n"
            "    - {type: RequestMirror, requestMirror: {backendRef: {name: payments}}}"
        ),
        10,
        "spec.rules[0].filters[1].type",
        ["two RequestMirror filters", "merge them"],
    ),
    (
        "listeners-on-two-ports",
        """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: two-ports}
spec:
  gatewayClassName: breakwater
  listeners:
    - {name: a, port: 8080, protocol: HTTP}
    - {name: b, port: 8081, protocol: HTTP}
""",
        4,
        "spec",
        ["ports 8080, 8081", "its own Gateway"],
    ),
    (
        "https-listener-without-tls",
        https_gateway("    - {name: a, port: 8443, protocol: HTTPS}"),
        7,
        "spec.listeners[0].protocol",
        ["needs `tls`", CHAIN, KEY, "absolute paths"],
    ),
    (
        "https-listener-with-certificate-refs-only",
        https_gateway(
            "    - name: a\n      port: 8443\n      protocol: HTTPS\n"
            "      tls: {certificateRefs: [{name: cert}]}"
        ),
        10,
        "spec.listeners[0].tls",
        ["lacks", CHAIN, KEY, "certificateRefs are not read"],
    ),
    (
        "https-listener-missing-the-key",
        https_gateway(
            "    - name: a\n      port: 8443\n      protocol: HTTPS\n      tls:\n"
            "        options: {breakwater.dev/certificate-chain: /etc/tls/a.pem}"
        ),
        11,
        "spec.listeners[0].tls.options",
        [f"lacks {KEY}", "absolute paths"],
    ),
    (
        "https-listener-relative-path",
        https_gateway(
            "    - name: a\n      port: 8443\n      protocol: HTTPS\n      tls:\n        options:\n"
            "          breakwater.dev/certificate-chain: /etc/tls/a.pem\n"
            "          breakwater.dev/private-key: tls/a.key"
        ),
        13,
        "spec.listeners[0].tls.options.breakwater.dev/private-key",
        ["'tls/a.key' is not an absolute path", "Envoy host"],
    ),
    (
        "https-listener-unknown-option",
        https_gateway(
            "    - name: a\n      port: 8443\n      protocol: HTTPS\n      tls:\n        options:\n"
            "          breakwater.dev/certificate-chain: /etc/tls/a.pem\n"
            "          breakwater.dev/private-key: /etc/tls/a.key\n"
            "          breakwater.dev/min-version: '1.3'"
        ),
        14,
        "spec.listeners[0].tls.options.breakwater.dev/min-version",
        ["unknown tls option", CHAIN, KEY],
    ),
    (
        "tls-passthrough",
        https_gateway(
            "    - name: a\n      port: 8443\n      protocol: HTTPS\n      tls:\n"
            "        mode: Passthrough"
        ),
        11,
        "spec.listeners[0].tls.mode",
        ["does not pass it through", "mode: Terminate", CHAIN],
    ),
    (
        "http-and-https-on-one-port",
        https_gateway(
            "    - {name: plain, port: 8443, protocol: HTTP}\n"
            "    - name: a\n      port: 8443\n      protocol: HTTPS\n      tls:\n        options:\n"
            "          breakwater.dev/certificate-chain: /etc/tls/a.pem\n"
            "          breakwater.dev/private-key: /etc/tls/a.key"
        ),
        6,
        "spec.listeners",
        ["mix HTTP and HTTPS", "their own Gateway"],
    ),
    (
        "https-listeners-with-two-certificates",
        https_gateway(
            "".join(
                f"    - name: {n}\n      port: 8443\n      protocol: HTTPS\n      tls:\n"
                f"        options:\n          {CHAIN}: /etc/tls/{n}.pem\n"
                f"          {KEY}: /etc/tls/{n}.key\n"
                for n in ("a", "b")
            ).rstrip("\n")
        ),
        18,
        "spec.listeners[1].tls.options",
        ["listener 'b' names other certificate files than listener 'a'", "one certificate"],
    ),
    (
        "tls-on-an-http-listener",
        https_gateway(
            "    - name: a\n      port: 8080\n      protocol: HTTP\n      tls:\n"
            "        mode: Terminate"
        ),
        10,
        "spec.listeners[0].tls",
        ["`tls` is for a listener with `protocol: HTTPS`"],
    ),
    (
        "namespaced-name-given-twice",
        rule("- backendRefs: [{name: payments}]")
        + "---\n"
        + rule("- backendRefs: [{name: payments}]"),
        11,
        "metadata.name",
        ["already declared at", "bad.yaml:1", "unique per namespace"],
    ),
    (
        "kind-of-another-api-version",
        "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\nmetadata: {name: r}\n",
        2,
        "kind",
        ["not known in gateway.networking.k8s.io/v1beta1", "ReferenceGrant"],
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_gateway_api_mistake_is_located(
    tmp_path: Path, text: str, line: int, field: str | None, words: list[str]
) -> None:
    assert_located(errors(tmp_path, text), line, field, words)


def test_a_rollout_naming_a_rule_past_the_end_points_at_the_rollout(tmp_path: Path) -> None:
    """A Breakwater document that refers to a Gateway API route is checked like any other."""
    text = rule(
        "- backendRefs: [{group: breakwater.dev, kind: ServiceSubset, name: payments.stable}]"
    )
    text += """\
---
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  routeRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, rule: 3}
  stable: stable
  canary: canary
  stepWeight: 10
"""
    assert_located(errors(tmp_path, text), 13, "spec.routeRef.rule", ["no rule 3"])
