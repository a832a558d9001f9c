"""HealthCheck → the cluster's active `health_checks`.

Readiness and liveness probes in Kubernetes decide whether a pod gets
traffic; Envoy's active health checks decide it per proxy, each proxy probing
every host itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.core.v3 import health_check_pb2
from envoy.type.v3 import http_pb2, range_pb2
from google.protobuf import wrappers_pb2

from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.model import HealthCheck, Protocol

EXPLAIN: Meanings = {
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
}
"""What `breakwater explain` says about the fields translated here."""


def status_ranges(codes: Iterable[int]) -> list[range_pb2.Int64Range]:
    """Envoy takes half-open ranges: 200, 201, 202 and 204 become [200, 203) and [204, 205)."""
    ranges: list[range_pb2.Int64Range] = []
    for code in sorted(set(codes)):
        if ranges and ranges[-1].end == code:
            ranges[-1].end = code + 1
        else:
            ranges.append(range_pb2.Int64Range(start=code, end=code + 1))
    return ranges


def health_check(
    check: HealthCheck, protocol: Protocol, default_host: str
) -> health_check_pb2.HealthCheck:
    """One active health check.

    `default_host` is the Host header when the policy names none. Envoy would
    send the cluster name, and `payments|canary` is not a valid host name: Go's
    and other strict servers answer such a probe with 400 and every host would
    look unhealthy. The service's own name (or its DNS name) is what the
    service expects to be called.
    """
    out = health_check_pb2.HealthCheck(
        unhealthy_threshold=wrappers_pb2.UInt32Value(value=check.unhealthy_threshold),
        healthy_threshold=wrappers_pb2.UInt32Value(value=check.healthy_threshold),
    )
    set_duration(out.interval, check.interval)
    # Envoy probes a cluster that has had no traffic yet only every 60 s, so a
    # host that fails after startup would keep its share for up to a minute:
    # the interval the policy names applies from the start.
    set_duration(out.no_traffic_interval, check.interval)
    set_duration(out.timeout, check.timeout)
    if check.http is not None:
        http = health_check_pb2.HealthCheck.HttpHealthCheck(
            path=check.http.path,
            host=check.http.host if check.http.host is not None else default_host,
        )
        if check.http.expected_statuses is not None:
            http.expected_statuses.extend(status_ranges(check.http.expected_statuses))
        # Probes speak the upstream's protocol: an HTTP/2-only (gRPC) server
        # would refuse an HTTP/1.1 probe and be marked unhealthy.
        if protocol in ("http2", "grpc"):
            http.codec_client_type = http_pb2.CodecClientType.HTTP2
        out.http_health_check.CopyFrom(http)
    else:
        out.tcp_health_check.SetInParent()
    return out


def health_checks(
    check: HealthCheck | None, protocol: Protocol, default_host: str
) -> list[health_check_pb2.HealthCheck]:
    if check is None:
        return []
    return [health_check(check, protocol, default_host)]
