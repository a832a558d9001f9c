"""Telemetry that cannot work is refused with the file, the line and what to do: a collector that is
not a declared Service or does not speak gRPC, a sampling share over 100, a missing target, a
route that sets what belongs to a gateway, a gateway that would trace to nowhere."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.bad_policies import SERVICE
from tests.support.errors import assert_located
from tests.support.policies import SplitRoute, load_policy_dir

BASE = (
    SERVICE
    + "---\n"
    + SplitRoute().yaml()
    + """\
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: collector}
spec:
  protocol: grpc
  endpoints: [{address: 127.0.0.1, port: 4317}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: plain-http}
spec:
  endpoints: [{address: 127.0.0.1, port: 4318}]
"""
)


def telemetry(name: str, spec: str) -> str:
    return (
        "---\napiVersion: breakwater.dev/v1alpha1\nkind: Telemetry\n"
        f"metadata: {{name: {name}}}\nspec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")
    )


CASES = [
    (
        "collector-not-declared",
        telemetry("t", "tracing:\n  openTelemetry: {service: jaeger}\n"),
        7,
        "spec.tracing.openTelemetry.service",
        ["collector service 'jaeger' is not declared", "`protocol: grpc`", "collector, payments"],
    ),
    (
        "collector-speaks-http-1",
        telemetry("t", "tracing:\n  openTelemetry: {service: plain-http}\n"),
        7,
        "spec.tracing.openTelemetry.service",
        ["'plain-http' has protocol http", "needs HTTP/2", "`protocol: grpc`"],
    ),
    (
        "log-collector-not-declared",
        telemetry("t", "accessLog:\n  to: [stdout, {openTelemetry: {service: loki}}]\n"),
        7,
        "spec.accessLog.to[1].openTelemetry.service",
        ["collector service 'loki' is not declared"],
    ),
    (
        "sampling-over-100",
        telemetry("t", "tracing:\n  openTelemetry: {service: collector}\n  samplingPercent: 150\n"),
        8,
        "spec.tracing.samplingPercent",
        ["150", "not a percentage", "0 to 100"],
    ),
    (
        "missing-gateway",
        telemetry("t", "targetRef: {kind: Gateway, name: edgy}\naccessLog: {disabled: true}\n"),
        6,
        "spec.targetRef.name",
        ["Gateway 'edgy' is not declared", "declared gateways: edge"],
    ),
    (
        "missing-route",
        telemetry(
            "t", "targetRef: {kind: HTTPRoute, name: orders}\ntracing: {samplingPercent: 5}\n"
        ),
        6,
        "spec.targetRef.name",
        ["HTTPRoute 'orders' is not declared", "declared routes: payments"],
    ),
    (
        "route-sets-the-access-log",
        telemetry(
            "t", "targetRef: {kind: HTTPRoute, name: payments}\naccessLog: {disabled: true}\n"
        ),
        7,
        "spec.accessLog",
        ["sets only tracing.samplingPercent", "move `accessLog` to a Telemetry for the route's"],
    ),
    (
        "route-sets-the-collector",
        telemetry(
            "t",
            "targetRef: {kind: HTTPRoute, name: payments}\n"
            "tracing:\n  openTelemetry: {service: collector}\n",
        ),
        8,
        "spec.tracing.openTelemetry",
        ["move `openTelemetry` to a Telemetry for the route's Gateway"],
    ),
    (
        "tracing-without-a-collector",
        telemetry("t", "targetRef: {kind: Gateway, name: edge}\ntracing: {samplingPercent: 5}\n"),
        7,
        "spec.tracing",
        ["gateway 'edge' would trace without a collector", "tracing.openTelemetry.service"],
    ),
    (
        "tag-with-two-sources",
        telemetry(
            "t",
            "tracing:\n  openTelemetry: {service: collector}\n"
            "  tags: [{name: env, literal: prod, header: x-env}]\n",
        ),
        8,
        "spec.tracing.tags[0]",
        ["tag 'env' needs exactly one of literal, header or environment", "literal and header"],
    ),
    (
        "tag-named-like-the-route-tag",
        telemetry(
            "t",
            "tracing:\n  openTelemetry: {service: collector}\n"
            "  tags: [{name: route_name, literal: x}]\n",
        ),
        8,
        "spec.tracing.tags[0].name",
        ["'route_name' is the tag Breakwater sets", "another name"],
    ),
    (
        "unknown-sink",
        telemetry("t", "accessLog:\n  to: [syslog]\n"),
        7,
        "spec.accessLog.to[0]",
        ["'syslog' is not a sink", "stdout, stderr, {file: /absolute/path}"],
    ),
    (
        "relative-file",
        telemetry("t", "accessLog:\n  to: [{file: logs/access.json}]\n"),
        7,
        "spec.accessLog.to[0].file",
        ["'logs/access.json' is not an absolute path"],
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_telemetry_that_cannot_work_is_located(
    tmp_path: Path, text: str, line: int, field: str, words: list[str]
) -> None:
    (tmp_path / "00-base.yaml").write_text(BASE)
    (tmp_path / "bad.yaml").write_text(text)
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None
    assert all(e.file.endswith("bad.yaml") for e in errors), [str(e) for e in errors]
    assert assert_located(errors, line, field, words).kind == "Telemetry"


def test_a_gateway_without_a_collector_blames_the_most_specific_telemetry_that_traces(
    tmp_path: Path,
) -> None:
    (tmp_path / "00-base.yaml").write_text(BASE)
    (tmp_path / "bad.yaml").write_text(
        telemetry("fleet", "tracing: {samplingPercent: 1}\n")
        + telemetry(
            "edge", "targetRef: {kind: Gateway, name: edge}\ntracing: {samplingPercent: 5}\n"
        )
    )
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None
    (error,) = errors
    assert error.name == "edge", str(error)
