"""`validate` reports every mistake it can find in one run, not in rounds.

A document that fails its own model is left out of the checks across
documents, but those checks still run over every other document, and the
checks of merged policies still run when a reference is wrong. A reference
to a document that has errors of its own is not reported as missing: that
document's own errors are the ones to fix.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from breakwater.cli import main
from breakwater.translators.errors import PolicyError
from tests.support.bad_policies import SERVICE
from tests.support.policies import SplitRoute, load_policy_dir

DOC = "---\napiVersion: breakwater.dev/v1alpha1\n"
LEDGER = (
    DOC
    + "kind: Service\nmetadata: {name: ledger}\n"
    + "spec: {endpoints: [{address: 127.0.0.1, port: 9000}]}\n"
)

FILES = {
    "00-base.yaml": SERVICE + "---\n" + SplitRoute().yaml() + LEDGER,
    # line 7: a field that does not exist
    "10-typo.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: typo}
spec:
  targetRef: {name: ledger}
  circuitBreaker:
    failureRateTreshold: 50
""",
    # line 7: a value out of range
    "20-value.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: value}
spec:
  targetRef: {name: ledger}
  retry:
    attempts: 0
""",
    # line 5: an unknown gateway; line 11: an unknown service
    "30-route.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: orders}
spec:
  gateways: [edg]
  hostnames: [orders.example.com]
  rules:
    - name: main
      matches: [{path: {prefix: /}}]
      backends:
        - {service: paymens}
""",
    # line 6: a rule the route does not have
    "40-rollout.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {name: canary}
spec:
  routeRef: {name: payments, rule: main}
  stable: stable
  canary: canary
  stepWeight: 10
""",
    # line 5: a gateway that is not declared
    "50-telemetry.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {name: edge-logs}
spec:
  targetRef: {kind: Gateway, name: edgy}
  accessLog: {disabled: true}
""",
    # line 8: a retry that outlasts the request, once merged
    "60-merge.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: slow}
spec:
  targetRef: {name: payments}
  retry:
    attempts: 3
    perTryTimeout: 5s
  timeout:
    request: 3s
""",
}

EXPECTED = [
    ("10-typo.yaml", 7, "spec.circuitBreaker.failureRateTreshold", "failureRateThreshold"),
    ("20-value.yaml", 7, "spec.retry.attempts", "1 or more"),
    ("30-route.yaml", 5, "spec.gateways[0]", "gateway 'edg' is not declared"),
    ("30-route.yaml", 11, "spec.rules[0].backends[0].service", "service 'paymens'"),
    ("40-rollout.yaml", 5, "spec.routeRef.rule", "has no rule 'main'"),
    ("50-telemetry.yaml", 5, "spec.targetRef.name", "Gateway 'edgy' is not declared"),
    ("60-merge.yaml", 8, "spec.retry.perTryTimeout", "longer than timeout.request 3s"),
]


def _write(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)


def _errors(tmp_path: Path, files: dict[str, str]) -> list[PolicyError]:
    _write(tmp_path, files)
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None
    return errors


def test_every_stage_reports_in_one_run(tmp_path: Path) -> None:
    errors = _errors(tmp_path, FILES)
    for file, line, field, words in EXPECTED:
        found = [e for e in errors if e.file.endswith(file) and e.field == field]
        assert len(found) == 1, (file, field, [str(e) for e in errors])
        (error,) = found
        assert error.line == line, str(error)
        assert words in str(error), str(error)
        assert str(error).startswith(f"{error.file}:{line}: "), str(error)
    assert len(errors) == len(EXPECTED), [str(e) for e in errors]
    assert not [text for text, n in Counter(str(e) for e in errors).items() if n > 1]


def test_cli_prints_every_stage_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, FILES)
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    for file, line, field, _ in EXPECTED:
        assert f"{file}:{line}: " in err and field in err, (file, err)
    assert f"{len(EXPECTED)} errors; nothing was applied" in err


BROKEN = {
    "00-base.yaml": SERVICE,
    # line 6: the Service has a mistake of its own
    "10-ledger.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: ledger}
spec:
  protocol: grpc
  endpoint: [{address: 127.0.0.1, port: 9000}]
""",
    # line 6: the Gateway has a mistake of its own
    "20-gateway.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: inner}
spec:
  port: 10001
  nodeSelectr: {cluster: inner}
""",
    # line 7: the route has a mistake of its own; it names the broken gateway and service
    "30-route.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: orders}
spec:
  gateways: [inner]
  hostnames: [orders.example.com]
  rulez: []
""",
    "40-refs.yaml": """\
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: ledger}
spec:
  gateways: [inner]
  hostnames: [ledger.example.com]
  rules:
    - backends: [{service: ledger}]
    - backends: [{service: payments}]
      mirror: {service: ledger}
"""
    + DOC
    + """\
kind: Rollout
metadata: {name: orders}
spec:
  routeRef: {name: orders}
  stable: stable
  canary: canary
  stepWeight: 10
"""
    + DOC
    + """\
kind: Telemetry
metadata: {name: inner}
spec:
  targetRef: {kind: Gateway, name: inner}
  tracing:
    openTelemetry: {service: ledger}
"""
    + DOC
    + """\
kind: ResiliencePolicy
metadata: {name: ledger}
spec:
  targetRef: {name: payments}
  failover: {to: ledger}
""",
}


def test_a_reference_to_a_broken_document_is_not_a_second_error(tmp_path: Path) -> None:
    errors = _errors(tmp_path, BROKEN)
    located = sorted((Path(e.file).name, e.line) for e in errors)
    assert located == [
        ("10-ledger.yaml", 6),
        ("20-gateway.yaml", 6),
        ("30-route.yaml", 4),  # rules is missing
        ("30-route.yaml", 7),
    ], [str(e) for e in errors]
