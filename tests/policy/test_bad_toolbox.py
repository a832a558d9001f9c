"""Mistakes in faults, rate limits, mirrors, header changes, redirects, rewrites and fallbacks.

Each is reported on the line the user wrote, with a sentence that says what
to do instead, the same way as every other mistake (`test_bad_files`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bad_policies import errors_of, rule
from tests.support.errors import assert_located
from tests.translators.support import policyset_from_text

# (case id, YAML, expected line, expected field, words the message must hold)
CASES = [
    (
        "mirror-to-a-missing-service",
        rule("""\
- backends: [{service: payments}]
  mirror:
    service: payments-next
"""),
        9,
        "spec.rules[0].mirror.service",
        ["'payments-next' is not declared", "payments"],
    ),
    (
        "mirror-to-a-missing-subset",
        rule("""\
- backends: [{service: payments}]
  mirror: {service: payments, subset: shadow}
"""),
        8,
        "spec.rules[0].mirror.subset",
        ["no subset 'shadow'", "stable, canary"],
    ),
    (
        "mirror-that-is-a-backend",
        rule("""\
- backends: [{service: payments, subset: stable}]
  mirror: {service: payments, subset: stable}
"""),
        7,
        "spec.rules[0]",
        ["also a backend", "twice"],
    ),
    (
        "fault-percent-over-100",
        rule("""\
- backends: [{service: payments}]
  fault:
    abort: {status: 503, percent: 150}
"""),
        9,
        "spec.rules[0].fault.abort.percent",
        ["150", "from 0 to 100"],
    ),
    (
        "fault-status-below-200",
        rule("""\
- backends: [{service: payments}]
  fault:
    abort: {status: 101, percent: 10}
"""),
        9,
        "spec.rules[0].fault.abort.status",
        ["cannot be injected", "503"],
    ),
    (
        "fault-with-nothing-to-inject",
        rule("""\
- backends: [{service: payments}]
  fault:
    headers: [{name: x-drill, value: "true"}]
"""),
        8,
        "spec.rules[0].fault",
        ["give `delay`", "`abort`"],
    ),
    (
        "fault-delay-without-percent",
        rule("""\
- backends: [{service: payments}]
  fault:
    delay: {duration: 1s}
"""),
        9,
        "spec.rules[0].fault.delay.percent",
        ["required"],
    ),
    (
        "rate-limit-of-zero",
        rule("""\
- backends: [{service: payments}]
  rateLimit: {requests: 0, per: 1s}
"""),
        8,
        "spec.rules[0].rateLimit.requests",
        ["would refuse every request", "fault.abort"],
    ),
    (
        "rate-limit-refilled-too-often",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: Gateway
        metadata: {name: g}
        spec:
          port: 10002
          rateLimit:
            requests: 1
            per: 10ms
        """,
        8,
        "spec.rateLimit.per",
        ["50ms", "per second"],
    ),
    (
        "rate-limit-burst-below-requests",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: HTTPRoute
        metadata: {name: r}
        spec:
          gateways: [edge]
          rateLimit: {requests: 100, per: 1s, burst: 10}
          rules:
            - backends: [{service: payments}]
        """,
        6,
        "spec.rateLimit",
        ["`burst` 10 is below `requests` 100", "at least 100"],
    ),
    (
        "neither-backends-nor-redirect",
        rule("""\
- matches: [{path: {prefix: /}}]
"""),
        7,
        "spec.rules[0]",
        ["give `backends`", "`redirect`"],
    ),
    (
        "backends-and-redirect",
        rule("""\
- backends: [{service: payments}]
  redirect: {scheme: https}
"""),
        7,
        "spec.rules[0]",
        ["remove `backends` or `redirect`"],
    ),
    (
        "redirect-with-a-retry",
        rule("""\
- redirect: {scheme: https}
  retry: {attempts: 2}
"""),
        7,
        "spec.rules[0]",
        ["`retry` shapes what is sent to the backends"],
    ),
    (
        "redirect-status-that-is-no-redirect",
        rule("""\
- redirect: {host: example.com, statusCode: 304}
"""),
        7,
        "spec.rules[0].redirect.statusCode",
        ["statusCode is 304", "use one of", "301", "308"],
    ),
    (
        "redirect-host-with-a-scheme",
        rule("""\
- redirect:
    host: https://example.com
"""),
        8,
        "spec.rules[0].redirect.host",
        ["not a host name", "redirect.port"],
    ),
    (
        "prefix-rewrite-of-an-exact-match",
        rule("""\
- matches: [{path: {prefix: /a}}, {path: {exact: /b}}]
  backends: [{service: payments}]
  rewrite:
    path: {prefix: /c}
"""),
        7,
        "spec.rules[0]",
        ["matches[1] matches a whole path", "rewrite.path.full"],
    ),
    (
        "rewrite-path-both-ways",
        rule("""\
- backends: [{service: payments}]
  rewrite:
    path: {prefix: /c, full: /d}
"""),
        9,
        "spec.rules[0].rewrite.path",
        ["exactly one of `full`", "`prefix`"],
    ),
    (
        "header-that-is-a-pseudo-header",
        rule("""\
- backends: [{service: payments}]
  requestHeaders:
    set:
      - {name: ":path", value: /x}
"""),
        10,
        "spec.rules[0].requestHeaders.set[0].name",
        ["pseudo-header", "rewrite.path"],
    ),
    (
        "host-header",
        rule("""\
- backends: [{service: payments}]
  requestHeaders:
    remove: [Host]
"""),
        9,
        "spec.rules[0].requestHeaders.remove[0]",
        ["rewrite.host"],
    ),
    (
        "header-set-and-removed",
        rule("""\
- backends: [{service: payments}]
  responseHeaders:
    set: [{name: X-Env, value: prod}]
    remove: [x-env]
"""),
        8,
        "spec.rules[0].responseHeaders",
        ["'x-env' is named in `set` and `remove`", "once"],
    ),
    (
        "header-value-on-two-lines",
        rule("""\
- backends: [{service: payments}]
  requestHeaders:
    add: [{name: x-a, value: "one\\ntwo"}]
"""),
        9,
        "spec.rules[0].requestHeaders.add[0].value",
        ["line breaks"],
    ),
    (
        "fallback-that-says-nothing",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          fallback:
            response:
              contentType: application/json
        """,
        6,
        "spec.fallback.response",
        ["give the fallback a `body`, a `status`, or both"],
    ),
    (
        "fallback-on-an-unknown-condition",
        """\
        apiVersion: breakwater.dev/v1alpha1
        kind: ResiliencePolicy
        metadata: {name: p}
        spec:
          fallback:
            response: {body: sorry}
            on: [no-healthy-host, no-host]
        """,
        7,
        "spec.fallback.on[1]",
        ["on[1] is 'no-host'", "use one of", "'no-healthy-host'", "'upstream-5xx'"],
    ),
    (
        "fallback-on-a-redirect",
        rule("""\
- redirect: {scheme: https}
  fallback:
    response: {body: sorry}
"""),
        7,
        "spec.rules[0]",
        ["`fallback` shapes what is sent"],
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_toolbox_mistake_is_located(
    tmp_path: Path, text: str, line: int, field: str | None, words: list[str]
) -> None:
    assert_located(errors_of(tmp_path, text), line, field, words)


def test_fallback_on_is_read_as_a_key_although_yaml_1_1_reads_on_as_true() -> None:
    """YAML 1.1 reads a bare `on:` as the boolean true; a policy key is always a name."""
    policyset = policyset_from_text(
        """\
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: p}
spec:
  fallback:
    response: {body: sorry}
    on: [overflow]
"""
    )
    fallback = policyset.policies["p"].spec.fallback
    assert fallback is not None and fallback.on == ["overflow"]
