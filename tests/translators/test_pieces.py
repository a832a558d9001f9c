"""The small decisions inside the translators, each pinned by name."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest
from envoy.config.route.v3 import route_pb2

from breakwater.controlplane.fleet.reports import is_breakwater_cluster
from breakwater.translators.envoy.bulkhead import circuit_breakers, retry_limits_only
from breakwater.translators.envoy.health import status_ranges
from breakwater.translators.envoy.outlier import healthy_panic_threshold, outlier_detection
from breakwater.translators.envoy.retries import retry_on, retry_policy
from breakwater.translators.envoy.routes import route_match
from breakwater.translators.model import Bulkhead, CircuitBreaker, Retry, RetryBudget
from breakwater.translators.names import (
    ClusterRef,
    cluster_name,
    failover_cluster_name,
    parse_cluster_name,
)
from breakwater.translators.snapshot import node_group, translate
from breakwater.xds_types import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    resource_name,
)
from tests.translators.support import policyset_from_text, unchecked_policyset

BASE = """
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  endpoints: [{address: 10.0.0.1, port: 8080, labels: {track: stable}}]
  subsets: [{name: stable, labels: {track: stable}}, {name: failover, labels: {track: x}}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec: {port: 10000}
"""


@pytest.mark.parametrize(
    ("service", "subset", "failover"),
    [
        ("payments", None, False),
        ("payments", "canary", False),
        ("payments", None, True),
        ("payments", "failover", True),
        ("payments", "failover", False),
        ("shop.payments", None, False),
        ("shop.payments", "canary", True),
    ],
)
def test_cluster_names_parse_back(service: str, subset: str | None, failover: bool) -> None:
    name = failover_cluster_name(service, subset) if failover else cluster_name(service, subset)
    assert parse_cluster_name(name) == ClusterRef(service, subset, failover)
    # No dot in a cluster's name: Envoy's stat tag would end the cluster there.
    assert "." not in name
    assert is_breakwater_cluster(name) is not failover


def test_a_subset_called_failover_is_not_a_failover_cluster() -> None:
    assert cluster_name("payments", "failover") != failover_cluster_name("payments")


def test_status_codes_fold_into_half_open_ranges() -> None:
    ranges = [(r.start, r.end) for r in status_ranges([204, 200, 201, 202, 200, 500])]
    assert ranges == [(200, 203), (204, 205), (500, 501)]


def test_no_trigger_no_outlier_detection() -> None:
    # A block without triggers would switch on Envoy's default 5xx and success-rate ejection.
    assert outlier_detection(None) is None
    assert outlier_detection(CircuitBreaker(open_duration=timedelta(seconds=5))) is None
    panic_only = CircuitBreaker(panic_threshold=0)
    assert outlier_detection(panic_only) is None
    panic = healthy_panic_threshold(panic_only)
    assert panic is not None and panic.value == 0


def test_every_enforcing_field_is_written() -> None:
    od = outlier_detection(CircuitBreaker(consecutive_errors=3))
    assert od is not None
    enforcing = {f.name for f in od.DESCRIPTOR.fields if f.name.startswith("enforcing_")}
    assert all(od.HasField(name) for name in enforcing)
    assert {name for name in enforcing if getattr(od, name).value == 100} == {
        "enforcing_consecutive_5xx"
    }
    assert od.always_eject_one_host.value is True
    assert od.max_ejection_percent.value == 100


def test_minimum_hosts_only_with_failure_rate() -> None:
    od = outlier_detection(CircuitBreaker(consecutive_errors=3))
    assert od is not None and not od.HasField("failure_percentage_minimum_hosts")
    od = outlier_detection(CircuitBreaker(failure_rate_threshold=50))
    assert od is not None and od.failure_percentage_minimum_hosts.value == 1
    assert not od.HasField("failure_percentage_request_volume")


def test_retry_conditions_keep_order_and_add_status_codes() -> None:
    retry = Retry(attempts=3, retry_on=["reset", "5xx", "reset"], retriable_status_codes=[503])
    assert retry_on(retry) == "reset,5xx,retriable-status-codes"
    assert retry_on(Retry(attempts=3, retry_on=["5xx"])) == "5xx"


def test_one_attempt_means_no_retry() -> None:
    policy = retry_policy(Retry(attempts=1))
    assert policy is not None and policy.HasField("num_retries") and policy.num_retries.value == 0


def test_limits_only_what_is_set() -> None:
    assert circuit_breakers(None, None) is None
    assert circuit_breakers(Bulkhead(), None) is None
    breakers = circuit_breakers(Bulkhead(max_queued_requests=0), None)
    assert breakers is not None
    (limits,) = breakers.thresholds
    assert limits.HasField("max_pending_requests") and limits.max_pending_requests.value == 0
    assert not limits.HasField("max_requests")


def test_aggregate_keeps_only_retry_limits() -> None:
    breakers = circuit_breakers(
        Bulkhead(max_concurrent_requests=5, max_concurrent_retries=2), RetryBudget(percent=20)
    )
    kept = retry_limits_only(breakers)
    assert kept is not None
    (limits,) = kept.thresholds
    assert limits.max_retries.value == 2 and limits.retry_budget.budget_percent.value == 20
    assert not limits.HasField("max_requests")
    assert retry_limits_only(circuit_breakers(Bulkhead(max_concurrent_requests=5), None)) is None


def test_rule_without_match_takes_every_path() -> None:
    assert route_match(None).prefix == "/"


def test_zero_weight_backend_stays_in_the_split() -> None:
    policyset = policyset_from_text(
        BASE
        + """
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: payments, subset: stable, weight: 1}, {service: payments, weight: 0}]
"""
    )
    (config,) = translate(policyset, {"edge"})[ROUTE_TYPE]
    (vhost,) = cast(route_pb2.RouteConfiguration, config).virtual_hosts
    weights = {c.name: c.weight.value for c in vhost.routes[0].route.weighted_clusters.clusters}
    assert weights == {"payments|stable": 1, "payments": 0}
    clusters = [resource_name(c) for c in translate(policyset, {"edge"})[CLUSTER_TYPE]]
    assert clusters == ["payments", "payments|stable"]


def test_failover_to_itself_or_to_nothing_is_ignored() -> None:
    policyset = unchecked_policyset(
        BASE
        + """
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: loop}
spec:
  targetRef: {name: payments}
  failover: {to: payments}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: nowhere}
spec:
  targetRef: {name: payments, subset: stable}
  failover: {to: missing}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: payments, subset: stable}, {service: payments}]
"""
    )
    clusters = [resource_name(c) for c in translate(policyset, {"edge"})[CLUSTER_TYPE]]
    assert clusters == ["payments", "payments|stable"]


def test_backend_of_unknown_service_gets_no_cluster() -> None:
    policyset = unchecked_policyset(
        BASE
        + """
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: ghost}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: ghost}]
"""
    )
    resources = translate(policyset, {"edge"})
    assert resources[CLUSTER_TYPE] == [] and resources[ENDPOINT_TYPE] == []
    assert [resource_name(r) for r in resources[ROUTE_TYPE]] == ["edge"]


def test_group_names_that_are_not_gateways_are_ignored() -> None:
    policyset = policyset_from_text(BASE)
    resources = translate(policyset, {"edge", "gone"})
    assert [resource_name(listener) for listener in resources[LISTENER_TYPE]] == ["edge"]
    assert translate(policyset, frozenset())[LISTENER_TYPE] == []


def test_gateway_without_selector_serves_every_node() -> None:
    policyset = policyset_from_text(
        BASE
        + """
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: eu}
spec:
  port: 10001
  nodeSelector: {metadata: {region: eu-west}}
"""
    )
    assert node_group(policyset, "anything", {}) == {"edge"}
    assert node_group(policyset, "anything", {"region": "eu-west"}) == {"edge", "eu"}
