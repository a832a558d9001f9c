"""Why a service gets the Envoy config it gets: each effective setting, who set it, and what Envoy makes of it.

Users arrive with Hystrix and Resilience4j numbers. Envoy's mechanisms are
close but not the same (per-host ejection, no half-open probe, a panic
threshold that sends traffic to ejected hosts), so every line that differs
says how.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from breakwater.translators.durations import format_duration
from breakwater.translators.policyset import Effective, FieldPath, PolicySet


@dataclass(frozen=True)
class FieldMeaning:
    envoy: str
    differs: str = ""


# One entry per field a user can set, keyed by its snake_case path in ResilienceSpec.
MEANINGS: dict[FieldPath, FieldMeaning] = {
    ("circuit_breaker", "consecutive_errors"): FieldMeaning(
        "cluster.outlier_detection.consecutive_5xx (+ enforcing_consecutive_5xx: 100)",
        "Envoy ejects the one failing host, not the whole service; there is no half-open probe: "
        "the host returns when its ejection time is over",
    ),
    ("circuit_breaker", "consecutive_gateway_errors"): FieldMeaning(
        "cluster.outlier_detection.consecutive_gateway_failure (+ enforcing_consecutive_gateway_failure: 100)",
        "counts only 502, 503 and 504; per host",
    ),
    ("circuit_breaker", "failure_rate_threshold"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_threshold (+ enforcing_failure_percentage: 100)",
        "Hystrix opens the breaker for the whole service; Envoy ejects each host whose own failure "
        "percentage is above the threshold in one interval",
    ),
    ("circuit_breaker", "minimum_requests"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_request_volume",
        "counted per host per interval, not across the service over a rolling window",
    ),
    ("circuit_breaker", "minimum_hosts"): FieldMeaning(
        "cluster.outlier_detection.failure_percentage_minimum_hosts",
        "Envoy's own default is 5, which stops small clusters from ever ejecting on failure rate; "
        "Breakwater defaults to 1",
    ),
    ("circuit_breaker", "interval"): FieldMeaning(
        "cluster.outlier_detection.interval", "Envoy default 10s when unset"
    ),
    ("circuit_breaker", "open_duration"): FieldMeaning(
        "cluster.outlier_detection.base_ejection_time",
        "the ejection time is this times the number of times the host was ejected, capped by "
        "maxOpenDuration (Envoy default 30s when unset); no half-open state",
    ),
    ("circuit_breaker", "max_open_duration"): FieldMeaning(
        "cluster.outlier_detection.max_ejection_time", "Envoy default 300s when unset"
    ),
    ("circuit_breaker", "max_ejection_percent"): FieldMeaning(
        "cluster.outlier_detection.max_ejection_percent (+ always_eject_one_host: true)",
        "Envoy's own default of 10 % ejects nothing in a cluster of fewer than ten hosts; "
        "Breakwater defaults to 100 and always lets one host be ejected",
    ),
    ("circuit_breaker", "panic_threshold"): FieldMeaning(
        "cluster.common_lb_config.healthy_panic_threshold",
        "when fewer than this percentage of hosts are healthy, Envoy sends traffic to all hosts, "
        "ejected ones included (Envoy default 50 % when unset); 0 turns panic mode off",
    ),
    ("bulkhead", "max_concurrent_requests"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].max_requests",
        "the limit is per proxy, not global; overflow is an immediate 503 with x-envoy-overloaded",
    ),
    ("bulkhead", "max_queued_requests"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].max_pending_requests = "
        "maxQueuedRequests + maxConcurrentRequests",
        "Envoy counts a request as waiting while its connection opens, so the admitted requests "
        "are added to the queue; requests beyond maxConcurrentRequests are refused at once, "
        "never queued (a real queue needs maxConnections)",
    ),
    ("bulkhead", "max_connections"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].max_connections", "per proxy"
    ),
    ("bulkhead", "max_concurrent_retries"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].max_retries",
        "retries in flight at once across the cluster, per proxy (Envoy default 3)",
    ),
    ("retry", "attempts"): FieldMeaning(
        "route.retry_policy.num_retries = attempts - 1",
        "attempts counts the first try, like Resilience4j's maxAttempts; Envoy counts retries only",
    ),
    ("retry", "per_try_timeout"): FieldMeaning("route.retry_policy.per_try_timeout"),
    ("retry", "retry_on"): FieldMeaning(
        "route.retry_policy.retry_on",
        "Breakwater's default is 5xx, reset, connect-failure, refused-stream; Envoy retries nothing "
        "without it",
    ),
    ("retry", "retriable_status_codes"): FieldMeaning(
        "route.retry_policy.retriable_status_codes (+ retry_on: retriable-status-codes)"
    ),
    ("retry", "backoff", "base_interval"): FieldMeaning(
        "route.retry_policy.retry_back_off.base_interval",
        "Envoy's backoff is fully jittered and doubles each retry up to maxInterval (default 10 x "
        "base); the multiplier cannot be changed",
    ),
    ("retry", "backoff", "max_interval"): FieldMeaning(
        "route.retry_policy.retry_back_off.max_interval"
    ),
    ("retry", "budget", "percent"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].retry_budget.budget_percent",
        "a cluster-wide cap on retries as a share of active requests; replaces max_retries",
    ),
    ("retry", "budget", "min_concurrency"): FieldMeaning(
        "cluster.circuit_breakers.thresholds[DEFAULT].retry_budget.min_retry_concurrency"
    ),
    ("timeout", "request"): FieldMeaning(
        "route.timeout", "covers all attempts, retries included; Envoy answers 504 when it expires"
    ),
    ("timeout", "connect"): FieldMeaning("cluster.connect_timeout", "Envoy default 5s when unset"),
    ("timeout", "idle"): FieldMeaning("route.idle_timeout"),
    ("health_check", "interval"): FieldMeaning(
        "cluster.health_checks[0].interval and no_traffic_interval",
        "Envoy would probe a cluster without traffic only every 60 s; Breakwater uses the "
        "interval from the start",
    ),
    ("health_check", "timeout"): FieldMeaning("cluster.health_checks[0].timeout"),
    ("health_check", "unhealthy_threshold"): FieldMeaning(
        "cluster.health_checks[0].unhealthy_threshold"
    ),
    ("health_check", "healthy_threshold"): FieldMeaning(
        "cluster.health_checks[0].healthy_threshold"
    ),
    ("health_check", "http", "path"): FieldMeaning(
        "cluster.health_checks[0].http_health_check.path",
        "an active probe from every proxy; a failing host leaves rotation on every proxy on its own",
    ),
    ("health_check", "http", "host"): FieldMeaning(
        "cluster.health_checks[0].http_health_check.host"
    ),
    ("health_check", "http", "expected_statuses"): FieldMeaning(
        "cluster.health_checks[0].http_health_check.expected_statuses"
    ),
    ("health_check", "tcp"): FieldMeaning("cluster.health_checks[0].tcp_health_check"),
    ("failover", "to"): FieldMeaning(
        "aggregate cluster (envoy.clusters.aggregate) [primary, fallback]",
        "traffic moves to the fallback when the primary has no healthy host; there is no "
        "per-request fallback body",
    ),
    ("failover", "subset"): FieldMeaning("the fallback cluster of the aggregate"),
}


@dataclass(frozen=True)
class ExplainedSetting:
    path: str
    value: Any
    set_by: str
    envoy: str
    differs: str


def _camel(path: FieldPath) -> str:
    def one(part: str) -> str:
        head, *rest = part.split("_")
        return head + "".join(p.title() for p in rest)

    return ".".join(one(p) for p in path)


def _value_at(model: BaseModel, path: FieldPath) -> Any:
    current: Any = model
    for part in path:
        current = getattr(current, part, None)
    return current


def _display(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return value


def explain_effective(effective: Effective) -> list[ExplainedSetting]:
    """Every field that some policy set, plus the model defaults that ride along with them."""
    settings: list[ExplainedSetting] = []
    for path, meaning in MEANINGS.items():
        section = getattr(effective.spec, path[0])
        if section is None:
            continue
        value = _value_at(effective.spec, path)
        set_by = effective.provenance.get(path)
        if set_by is None:
            if value is None:
                continue
            set_by = "Breakwater default"
        settings.append(
            ExplainedSetting(
                path=_camel(path),
                value=_display(value),
                set_by=set_by,
                envoy=meaning.envoy,
                differs=meaning.differs,
            )
        )
    return settings


@dataclass(frozen=True)
class ExplainSection:
    title: str
    settings: list[ExplainedSetting]


def explain_service(policyset: PolicySet, service: str) -> list[ExplainSection]:
    """Sections for the service's clusters (whole and per subset) and for each route rule that sends to it."""
    spec = policyset.services[service].spec
    sections = [
        ExplainSection(
            f"cluster {service}" + (f" subset {subset}" if subset else ""),
            [
                s
                for s in explain_effective(policyset.effective_for_cluster(service, subset))
                if not s.envoy.startswith("route.")
            ],
        )
        for subset in [None, *(s.name for s in spec.subsets)]
    ]
    for route_name in sorted(policyset.routes):
        route = policyset.routes[route_name]
        for index, rule in enumerate(route.spec.rules):
            if not any(b.service == service for b in rule.backends):
                continue
            label = f"rule {index}" + (f" ({rule.name})" if rule.name else "")
            route_settings = [
                s
                for s in explain_effective(policyset.effective_for_rule(route_name, index))
                if s.envoy.startswith("route.")
            ]
            sections.append(ExplainSection(f"HTTPRoute {route_name} {label}", route_settings))
    return sections
