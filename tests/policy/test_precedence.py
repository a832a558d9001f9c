"""Fleet default < service < subset < route rule, merged field by field, with provenance."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from breakwater.translators.explain.service import explain_service
from breakwater.translators.policyset import PolicySet
from tests.support.policies import load_policy_dir

LAYERS = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  endpoints:
    - {address: 127.0.0.1, port: 8080, labels: {version: stable}}
    - {address: 127.0.0.2, port: 8080, labels: {version: canary}}
  subsets:
    - {name: stable, labels: {version: stable}}
    - {name: canary, labels: {version: canary}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec: {port: 10000}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: fleet}
spec:
  retry:
    attempts: 2
    retryOn: [reset]
    backoff: {baseInterval: 100ms, maxInterval: 1s}
  timeout: {request: 10s, connect: 1s}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: svc}
spec:
  targetRef: {name: payments}
  retry:
    attempts: 3
    backoff: {baseInterval: 200ms}
  circuitBreaker: {consecutiveErrors: 5}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: canary}
spec:
  targetRef: {name: payments, subset: canary}
  retry:
    attempts: 4
    retryOn: [5xx, gateway-error]
  circuitBreaker: {consecutiveErrors: 2}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: pay}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: payments, subset: canary}]
      retry: {attempts: 6}
    - backends:
        - {service: payments, subset: stable, weight: 90}
        - {service: payments, subset: canary, weight: 10}
"""


def _load(tmp_path: Path) -> PolicySet:
    (tmp_path / "p.yaml").write_text(LAYERS)
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is not None, [str(e) for e in errors]
    return policyset


def test_service_overrides_fleet_field_by_field(tmp_path: Path) -> None:
    effective = _load(tmp_path).effective_for_cluster("payments")
    retry = effective.spec.retry
    assert retry is not None and retry.backoff is not None
    assert retry.attempts == 3
    assert retry.retry_on == ["reset"]
    # maps merge: the service changed baseInterval, the fleet's maxInterval stays
    assert retry.backoff.base_interval == timedelta(milliseconds=200)
    assert retry.backoff.max_interval == timedelta(seconds=1)
    assert effective.provenance[("retry", "backoff", "base_interval")] == "ResiliencePolicy/svc"
    assert effective.provenance[("retry", "backoff", "max_interval")] == "ResiliencePolicy/fleet"
    assert effective.provenance[("timeout", "connect")] == "ResiliencePolicy/fleet"


def test_subset_overrides_service_and_lists_replace(tmp_path: Path) -> None:
    effective = _load(tmp_path).effective_for_cluster("payments", "canary")
    assert effective.spec.retry is not None and effective.spec.circuit_breaker is not None
    assert effective.spec.retry.attempts == 4
    assert effective.spec.retry.retry_on == ["5xx", "gateway-error"]
    assert effective.spec.circuit_breaker.consecutive_errors == 2
    assert effective.provenance[("retry", "retry_on")] == "ResiliencePolicy/canary"
    stable = _load(tmp_path).effective_for_cluster("payments", "stable")
    assert stable.spec.circuit_breaker is not None
    assert stable.spec.circuit_breaker.consecutive_errors == 5


def test_route_rule_overrides_everything(tmp_path: Path) -> None:
    policyset = _load(tmp_path)
    single = policyset.effective_for_rule("pay", 0)
    assert single.spec.retry is not None
    assert single.spec.retry.attempts == 6
    assert single.provenance[("retry", "attempts")] == "HTTPRoute/pay rule 0"
    assert single.spec.retry.retry_on == ["5xx", "gateway-error"]  # from the subset
    split = policyset.effective_for_rule("pay", 1)
    assert split.spec.retry is not None
    assert split.spec.retry.attempts == 3  # two subsets: the service level applies
    assert split.provenance[("retry", "attempts")] == "ResiliencePolicy/svc"


def test_unset_is_not_zero(tmp_path: Path) -> None:
    effective = _load(tmp_path).effective_for_cluster("payments")
    breaker = effective.spec.circuit_breaker
    assert breaker is not None
    assert "failure_rate_threshold" not in breaker.model_fields_set
    assert breaker.failure_rate_threshold is None
    assert effective.spec.bulkhead is None


def test_explain_names_setter_envoy_field_and_difference(tmp_path: Path) -> None:
    sections = explain_service(_load(tmp_path), "payments")
    titles = [s.title for s in sections]
    assert titles[:3] == [
        "cluster payments",
        "cluster payments subset stable",
        "cluster payments subset canary",
    ]
    canary = {s.path: s for s in sections[2].settings}
    errors = canary["circuitBreaker.consecutiveErrors"]
    assert errors.value == 2 and errors.set_by == "ResiliencePolicy/canary"
    assert "consecutive_5xx" in errors.envoy and "one failing host" in errors.differs
    eject = canary["circuitBreaker.maxEjectionPercent"]
    assert eject.set_by == "Breakwater default" and eject.value == 100
    rule0 = {s.path: s for s in sections[3].settings}
    assert rule0["retry.attempts"].set_by == "HTTPRoute/pay rule 0"
    assert rule0["retry.attempts"].envoy.startswith("route.retry_policy.num_retries")
