"""An Istio DestinationRule → the subsets of a Breakwater Service and its ResiliencePolicies.

The rule's traffic policy becomes a ResiliencePolicy on the Service, and each
subset's own traffic policy one on that subset (Breakwater merges them field
by field, as Istio does). connectionPool becomes the bulkhead, outlierDetection
the circuit breaker, loadBalancer the load balancer. Where Istio's defaults
differ from Breakwater's (outlier detection ejects at most 10 % of hosts,
and has no panic mode),
Istio's default is written out, so the import behaves as the mesh did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from breakwater.importers.istio.checked import checked
from breakwater.importers.istio.ledger import Ledger
from breakwater.importers.istio.model import (
    ConnectionPool,
    DestinationRule,
    LoadBalancerSettings,
    OutlierDetection,
    TrafficPolicy,
)
from breakwater.importers.istio.names import is_name, service_name, to_name
from breakwater.translators.documents import YamlPath
from breakwater.translators.model import (
    API_VERSION,
    Bulkhead,
    CircuitBreaker,
    LoadBalancer,
    Timeout,
)

ISTIO_MAX_EJECTION_PERCENT = 10
"""Istio (Envoy) ejects at most this share of hosts unless told otherwise; Breakwater's default is 100."""

ISTIO_MIN_HEALTH_PERCENT = 0
"""Istio turns Envoy's panic mode off (0 %) under outlier detection unless told otherwise."""

ENVOY_CONSECUTIVE_LOCAL_ORIGIN_FAILURES = 5
"""Envoy's `consecutive_local_origin_failure` when Istio splits local-origin errors without one."""

_SIMPLE_POLICIES = {
    "ROUND_ROBIN": "round-robin",
    "LEAST_REQUEST": "least-request",
    "LEAST_CONN": "least-request",
    "RANDOM": "random",
}

_POLICY_REASONS = {
    "tls": (
        "Breakwater's upstream TLS is not set per destination",
        "keep upstream TLS outside Breakwater",
    ),
    "portLevelSettings": (
        "Breakwater sets policies per Service and subset, not per port",
        "give each port its own Service, with its own ResiliencePolicy",
    ),
    "tunnel": ("Breakwater does not tunnel upstream connections", "leave it out"),
    "proxyProtocol": ("Breakwater does not send the PROXY protocol upstream", "leave it out"),
}

_POOL_REASONS = {
    "tcp": {
        "tcpKeepalive": "Breakwater does not set TCP keepalive on upstream connections",
        "maxConnectionDuration": "Breakwater does not limit upstream connection lifetimes",
        "idleTimeout": "Breakwater does not set the upstream connection idle timeout",
    },
    "http": {
        "maxRequestsPerConnection": "Breakwater does not cap requests per upstream connection",
        "idleTimeout": (
            "Istio's is the upstream connection idle timeout; Breakwater's `timeout.idle` is "
            "the stream's, which is not the same"
        ),
        "h2UpgradePolicy": "Breakwater chooses the upstream protocol from the Service's `protocol`",
        "useClientProtocol": "Breakwater chooses the upstream protocol from the Service's `protocol`",
        "maxConcurrentStreams": "Breakwater does not cap streams per upstream HTTP/2 connection",
    },
}


@dataclass
class ConvertedRule:
    """What one DestinationRule gives: the Service it is about, its subsets, its policies."""

    service: str | None
    subsets: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)


def _bulkhead(
    pool: ConnectionPool, ledger: Ledger, at: YamlPath
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bulkhead, and the connect timeout (Istio keeps it with the TCP pool)."""
    bulkhead: dict[str, Any] = {}
    timeout: dict[str, Any] = {}
    for part, reasons in _POOL_REASONS.items():
        for key, reason in reasons.items():
            if ledger.present(*at, part, key):
                ledger.left((*at, part, key), reason, "leave it out")
    if pool.tcp is not None:
        if pool.tcp.max_connections is not None:
            bulkhead["maxConnections"] = pool.tcp.max_connections
        if pool.tcp.connect_timeout is not None:
            timeout["connect"] = pool.tcp.connect_timeout
        ledger.took(*at, "tcp", "maxConnections")
        ledger.took(*at, "tcp", "connectTimeout")
    if pool.http is not None:
        if pool.http.http1_max_pending_requests is not None:
            bulkhead["maxQueuedRequests"] = pool.http.http1_max_pending_requests
        if pool.http.http2_max_requests is not None:
            bulkhead["maxConcurrentRequests"] = pool.http.http2_max_requests
        if pool.http.max_retries is not None:
            bulkhead["maxConcurrentRetries"] = pool.http.max_retries
        for key in ("http1MaxPendingRequests", "http2MaxRequests", "maxRetries"):
            ledger.took(*at, "http", key)
    return bulkhead, timeout


def _circuit_breaker(outlier: OutlierDetection, ledger: Ledger, at: YamlPath) -> dict[str, Any]:
    breaker: dict[str, Any] = {}
    consecutive = outlier.consecutive5xx_errors
    if consecutive is None and outlier.consecutive_errors is not None:
        consecutive = outlier.consecutive_errors  # the older name of the same setting
    if consecutive is not None and consecutive > 0:
        breaker["consecutiveErrors"] = consecutive
    if outlier.consecutive_gateway_errors:
        breaker["consecutiveGatewayErrors"] = outlier.consecutive_gateway_errors
    if outlier.interval is not None:
        breaker["interval"] = outlier.interval
    if outlier.base_ejection_time is not None:
        breaker["openDuration"] = outlier.base_ejection_time
    breaker["maxEjectionPercent"] = (
        outlier.max_ejection_percent
        if outlier.max_ejection_percent is not None
        else ISTIO_MAX_EJECTION_PERCENT
    )
    if outlier.max_ejection_percent is None:
        ledger.note(
            f"outlierDetection without maxEjectionPercent: Istio's {ISTIO_MAX_EJECTION_PERCENT} % "
            "was written (it ejects nothing in a subset of fewer than 10 hosts)"
        )
    breaker["panicThreshold"] = (
        outlier.min_health_percent
        if outlier.min_health_percent is not None
        else ISTIO_MIN_HEALTH_PERCENT
    )
    if outlier.min_health_percent is None:
        ledger.note(
            f"outlierDetection without minHealthPercent: Istio's {ISTIO_MIN_HEALTH_PERCENT} % "
            "was written as panicThreshold (no panic mode; Envoy's own default is 50 %)"
        )
    for key in (
        "consecutiveErrors",
        "consecutive5xxErrors",
        "consecutiveGatewayErrors",
        "interval",
        "baseEjectionTime",
        "maxEjectionPercent",
        "minHealthPercent",
    ):
        ledger.took(*at, key)
    _local_origin(outlier, breaker, ledger, at)
    for extra in outlier.model_extra or {}:
        ledger.left(
            (*at, extra), "the importer does not know this outlier detection field", "leave it out"
        )
    return breaker


def _local_origin(
    outlier: OutlierDetection, breaker: dict[str, Any], ledger: Ledger, at: YamlPath
) -> None:
    """Istio's split of local-origin errors is `localOriginFailures`; without the split Envoy
    ignores `consecutiveLocalOriginFailures`, and so does the import."""
    if outlier.split_external_local_origin_errors:
        failures = outlier.consecutive_local_origin_failures
        if failures is None:
            failures = ENVOY_CONSECUTIVE_LOCAL_ORIGIN_FAILURES
            ledger.note(
                "splitExternalLocalOriginErrors without consecutiveLocalOriginFailures: Envoy's "
                f"default of {failures} was written as localOriginFailures"
            )
        breaker["localOriginFailures"] = failures
        ledger.took(*at, "splitExternalLocalOriginErrors")
        ledger.took(*at, "consecutiveLocalOriginFailures")
        return
    if outlier.split_external_local_origin_errors is not None:
        ledger.took(*at, "splitExternalLocalOriginErrors")
    if outlier.consecutive_local_origin_failures is not None:
        ledger.left(
            (*at, "consecutiveLocalOriginFailures"),
            "without splitExternalLocalOriginErrors: true, Envoy ignores it",
            "leave it out, or set splitExternalLocalOriginErrors: true to count local failures",
        )


def _load_balancer(lb: LoadBalancerSettings, ledger: Ledger, at: YamlPath) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for extra in lb.model_extra or {}:
        ledger.left(
            (*at, extra),
            "Breakwater's load balancing is not locality-aware"
            if extra == "localityLbSetting"
            else "the importer does not know this load balancer field",
            "leave it out",
        )
    if lb.simple is not None:
        policy = _SIMPLE_POLICIES.get(lb.simple)
        if policy is None:
            ledger.left(
                (*at, "simple"),
                f"{lb.simple!r} has no Breakwater policy (it has {', '.join(_SIMPLE_POLICIES)})",
                "choose one of those",
            )
            return None
        out["policy"] = policy
        ledger.took(*at, "simple")
    hashing = lb.consistent_hash
    if hashing is not None:
        where: YamlPath = (*at, "consistentHash")
        out["policy"] = "maglev" if ledger.present(*where, "maglev") else "ring-hash"
        for key in ("ringHash", "maglev", "minimumRingSize"):
            if ledger.present(*where, key):
                ledger.left(
                    (*where, key),
                    "Breakwater uses Envoy's default ring and table sizes",
                    "leave it out",
                )
        if hashing.http_header_name is not None:
            out["hashOn"] = {"header": hashing.http_header_name}
        elif hashing.http_cookie is not None:
            out["hashOn"] = {"cookie": hashing.http_cookie.name}
            for key in ("ttl", "path", "attributes"):
                if ledger.present(*where, "httpCookie", key):
                    ledger.left(
                        (*where, "httpCookie", key),
                        "Breakwater hashes on a cookie the client already has; it does not set one",
                        "have the backend set the cookie",
                    )
        elif hashing.use_source_ip:
            out["hashOn"] = {"sourceIp": True}
        else:
            ledger.left(
                where,
                "Breakwater hashes on a header, a cookie or the source IP only",
                "hash on one of those",
            )
            return None
        for key in ("httpHeaderName", "useSourceIp"):
            ledger.took(*where, key)
        ledger.took(*where, "httpCookie", "name")
    warmup = lb.warmup.duration if lb.warmup is not None else None
    if lb.warmup_duration_secs is not None:
        warmup = lb.warmup_duration_secs
        ledger.took(*at, "warmupDurationSecs")
    if warmup is not None:
        slow_start: dict[str, Any] = {"window": warmup}
        if lb.warmup is not None and lb.warmup.aggression is not None:
            slow_start["aggression"] = lb.warmup.aggression.value
        out["slowStart"] = slow_start
        ledger.took(*at, "warmup", "duration")
        ledger.took(*at, "warmup", "aggression")
    if not out:
        return None
    return checked(LoadBalancer, out, ledger, at, "write the policy's `loadBalancer` by hand")


def _policy_spec(policy: TrafficPolicy, ledger: Ledger, at: YamlPath) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for key, (reason, instead) in _POLICY_REASONS.items():
        if ledger.present(*at, key):
            ledger.left((*at, key), reason, instead)
    if policy.connection_pool is not None:
        where: YamlPath = (*at, "connectionPool")
        bulkhead, timeout = _bulkhead(policy.connection_pool, ledger, where)
        if bulkhead and checked(Bulkhead, bulkhead, ledger, where, "write the bulkhead by hand"):
            spec["bulkhead"] = bulkhead
        if timeout and checked(
            Timeout, timeout, ledger, (*where, "tcp", "connectTimeout"), "give a duration"
        ):
            spec["timeout"] = timeout
    if policy.outlier_detection is not None:
        where = (*at, "outlierDetection")
        breaker = _circuit_breaker(policy.outlier_detection, ledger, where)
        if checked(CircuitBreaker, breaker, ledger, where, "write the circuit breaker by hand"):
            spec["circuitBreaker"] = breaker
    if policy.load_balancer is not None:
        balancer = _load_balancer(policy.load_balancer, ledger, (*at, "loadBalancer"))
        if balancer is not None:
            spec["loadBalancer"] = balancer
    return spec


def _policy(name: str, service: str, subset: str | None, spec: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = {"kind": "Service", "name": service}
    if subset is not None:
        target["subset"] = subset
    return {
        "apiVersion": API_VERSION,
        "kind": "ResiliencePolicy",
        "metadata": {"name": name},
        "spec": {"targetRef": target, **spec},
    }


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "bulkhead": Bulkhead,
    "timeout": Timeout,
    "circuitBreaker": CircuitBreaker,
    "loadBalancer": LoadBalancer,
}
_SECTIONS = {
    "bulkhead": "connectionPool",
    "timeout": "connectionPool",
    "circuitBreaker": "outlierDetection",
    "loadBalancer": "loadBalancer",
}


def _overlaps(
    service_spec: dict[str, Any],
    subset_spec: dict[str, Any],
    subset: str,
    ledger: Ledger,
    at: YamlPath,
) -> None:
    """Istio's subset policy replaces each section whole; Breakwater merges them field by field.

    The subset then also inherits the fields its section leaves out, which
    the note says; where that inheritance would make an invalid policy (a
    subset that stops hashing under a rule that hashes) the section is left.
    """
    for key, section in _SECTIONS.items():
        if key not in service_spec or key not in subset_spec:
            continue
        inherited = sorted(set(service_spec[key]) - set(subset_spec[key]))
        merged = {**service_spec[key], **subset_spec[key]}
        try:
            _SECTION_MODELS[key].model_validate(merged)
        except ValidationError as error:
            del subset_spec[key]
            message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
            ledger.left(
                (*at, section),
                f"in Istio it replaces the DestinationRule's {section} whole; Breakwater merges "
                f"policies field by field, and with {', '.join(inherited)} inherited it "
                f"would be invalid ({message})",
                "give the subset every field of the section, or move the DestinationRule's "
                "into the other subsets' policies",
            )
            continue
        if inherited:
            ledger.note(
                f"subset {subset!r} also inherits {key} {', '.join(inherited)} from the rule's "
                f"traffic policy (Istio would replace the whole {section} section)"
            )


def convert_destination_rule(rule: DestinationRule, ledger: Ledger) -> ConvertedRule:
    for key in ("apiVersion", "kind", ("metadata", "name"), ("metadata", "namespace")):
        ledger.took(*((key,) if isinstance(key, str) else key))
    for key in rule.metadata.model_dump(by_alias=True, exclude={"name", "namespace"}):
        if ledger.present("metadata", key):
            ledger.left(
                ("metadata", key),
                "a DestinationRule's metadata is not carried to the policies it becomes",
                "label the ResiliencePolicies by hand if you need to",
            )
    service = service_name(rule.spec.host)
    if service is None:
        ledger.left(
            ("spec", "host"),
            f"host {rule.spec.host!r} cannot name one Breakwater Service (wildcards cannot)",
            "write one DestinationRule per named host",
        )
        return ConvertedRule(None)
    ledger.took("spec", "host")
    if rule.metadata.namespace is not None:
        ledger.note("its namespace was dropped: Breakwater documents have no namespace")
    for extra in ("exportTo", "workloadSelector"):
        if ledger.present("spec", extra):
            ledger.left(
                ("spec", extra),
                "Breakwater has no namespaces or workloads to scope a DestinationRule to",
                "leave it out: the policy applies wherever the Service is used",
            )
    base = rule.metadata.name if is_name(rule.metadata.name) else to_name(rule.metadata.name)
    base = base or service
    out = ConvertedRule(service)
    service_spec: dict[str, Any] = {}
    if rule.spec.traffic_policy is not None:
        service_spec = _policy_spec(rule.spec.traffic_policy, ledger, ("spec", "trafficPolicy"))
        if service_spec:
            out.policies.append(_policy(base, service, None, service_spec))
    for index, subset in enumerate(rule.spec.subsets):
        at: YamlPath = ("spec", "subsets", index)
        if not is_name(subset.name):
            ledger.left(
                (*at, "name"),
                f"subset {subset.name!r} is not a valid Breakwater name",
                "rename it to lowercase letters, digits and '-'",
            )
            continue
        if not subset.labels:
            ledger.left(
                at,
                "a Breakwater subset selects endpoints by labels, and this one has none",
                "give the subset labels",
            )
            continue
        out.subsets.append({"name": subset.name, "labels": dict(subset.labels)})
        ledger.took(*at, "name")
        ledger.took(*at, "labels")
        if subset.traffic_policy is not None:
            spec = _policy_spec(subset.traffic_policy, ledger, (*at, "trafficPolicy"))
            _overlaps(service_spec, spec, subset.name, ledger, (*at, "trafficPolicy"))
            if spec:
                out.policies.append(
                    _policy(f"{base}-{subset.name}"[:63], service, subset.name, spec)
                )
    return out


__all__ = ["ConvertedRule", "convert_destination_rule"]
