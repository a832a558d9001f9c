"""Gateways → listener nodes: address, TLS, the HTTP filters their rules need, telemetry.

Telemetry merges (every gateway < Gateway < HTTPRoute, `effective_telemetry`)
are resolved here into plain values: which collector a gateway traces to
(only a declared Service: Envoy would refuse the whole listener for another),
what it samples, which access log sinks it writes. So a Telemetry the merge
made anew but that says the same thing is an equal node.
"""

from __future__ import annotations

from collections.abc import Iterable

from breakwater.log_fields import ACCESS_LOG_FIELDS
from breakwater.translators.ir.nodes import (
    AccessLog,
    AdaptiveFilter,
    AdmissionFilter,
    Listener,
    LogSink,
    Sampling,
    Tag,
    Tracing,
)
from breakwater.translators.model import CircuitBreaker
from breakwater.translators.policyset import PolicySet
from breakwater.translators.telemetry_model import AccessLog as AccessLogSpec
from breakwater.translators.telemetry_model import Sink, TelemetrySpec
from breakwater.translators.telemetry_model import Tracing as TracingSpec


def telemetry_gateways(policyset: PolicySet, name: str) -> list[str]:
    """The gateways a Telemetry document shapes: every gateway, its Gateway, or its route's."""
    if name not in policyset.telemetry:
        return []
    ref = policyset.telemetry[name].spec.target_ref
    if ref is None:
        return sorted(policyset.gateways)
    if ref.kind == "Gateway":
        return [ref.name] if ref.name in policyset.gateways else []
    route = policyset.routes.get(ref.name)
    return [] if route is None else sorted(set(route.spec.gateways) & set(policyset.gateways))


def service_name(gateway: str, spec: TelemetrySpec) -> str:
    """What the gateway's spans and OTLP log records call their service."""
    collector = spec.tracing.open_telemetry if spec.tracing is not None else None
    if collector is not None and collector.service_name is not None:
        return collector.service_name
    return gateway


def tracing_collector(policyset: PolicySet, spec: TelemetrySpec) -> str | None:
    """The collector a gateway traces to, or None when it does not trace.

    A collector that is not a declared Service is ignored here (validation
    reports it): Envoy would refuse the whole listener.
    """
    tracing = spec.tracing
    if tracing is None or tracing.disabled or tracing.open_telemetry is None:
        return None
    service = tracing.open_telemetry.service
    return service if service in policyset.services else None


def sampling(tracing: TracingSpec) -> Sampling:
    return Sampling(
        tracing.sampling_percent,
        tracing.client_sampling_percent,
        tracing.overall_sampling_percent,
        tuple(Tag(t.name, t.literal, t.header, t.environment, t.default) for t in tracing.tags),
    )


def traced_routes(policyset: PolicySet) -> frozenset[str]:
    """The HTTPRoutes that some Telemetry targets: only their routes can carry their own tracing."""
    return frozenset(
        spec.target_ref.name
        for spec in (t.spec for t in policyset.telemetry.values())
        if spec.target_ref is not None and spec.target_ref.kind == "HTTPRoute"
    )


def route_sampling(
    policyset: PolicySet, gateway: str, route: str, traced: frozenset[str]
) -> Sampling | None:
    """The tracing every Envoy route of an HTTPRoute gets on a gateway that traces, if any;
    `traced` is `traced_routes(policyset)`."""
    if route not in traced:
        return None
    spec = policyset.effective_telemetry(gateway, route).spec
    if tracing_collector(policyset, spec) is None or spec.tracing is None:
        return None
    return sampling(spec.tracing)


def _tracing(policyset: PolicySet, gateway: str, spec: TelemetrySpec) -> Tracing | None:
    collector = tracing_collector(policyset, spec)
    if collector is None or spec.tracing is None:
        return None
    return Tracing(collector, service_name(gateway, spec), sampling(spec.tracing))


def access_log_fields(log: AccessLogSpec | None) -> dict[str, str]:
    """The default fields with the Telemetry's laid over them."""
    fields = dict(ACCESS_LOG_FIELDS)
    for name, value in (log.fields if log is not None else {}).items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return fields


def _sink(policyset: PolicySet, sink: Sink) -> LogSink | None:
    if sink.stdout:
        return LogSink("stdout", None)
    if sink.stderr:
        return LogSink("stderr", None)
    if sink.file is not None:
        return LogSink("file", sink.file)
    if sink.open_telemetry is not None and sink.open_telemetry.service in policyset.services:
        return LogSink("open_telemetry", sink.open_telemetry.service)
    return None


def _access_log(policyset: PolicySet, gateway: str, spec: TelemetrySpec) -> AccessLog | None:
    """JSON to stdout unless a Telemetry says otherwise; an OTLP sink whose collector is not a
    declared Service is left out (validation reports it), as Envoy would refuse the listener."""
    log = spec.access_log
    if log is not None and log.disabled:
        return None
    wanted = log.filter if log is not None else None
    sinks = (log.to if log is not None else None) or [Sink(stdout=True)]
    return AccessLog(
        tuple(access_log_fields(log).items()),
        bool(wanted is not None and wanted.errors),
        None if wanted is None else wanted.sample_percent,
        tuple(found for found in (_sink(policyset, s) for s in sinks) if found is not None),
        service_name(gateway, spec),
    )


def rate_limit_service(policyset: PolicySet, gateway: str) -> str | None:
    """The cluster of the gateway's rate-limit service; one that is not a declared Service is
    left out (validation reports it), as Envoy would refuse the whole listener."""
    service = policyset.gateways[gateway].spec.rate_limit_service
    return service if service in policyset.services else None


def service_wide(breaker: CircuitBreaker | None) -> bool:
    """Whether a breaker looks at the service as a whole (an admission control filter)."""
    return (
        breaker is not None
        and breaker.scope == "service"
        and breaker.success_rate_threshold is not None
    )


def resolve_listener(
    policyset: PolicySet,
    gateway: str,
    admission: Iterable[AdmissionFilter],
    adaptive: Iterable[AdaptiveFilter] = (),
) -> Listener:
    """`admission` and `adaptive`: the breaker and adaptive concurrency levels the gateway's
    rules use, in rule order (the last of a level counts)."""
    spec = policyset.gateways[gateway].spec
    telemetry = policyset.effective_telemetry(gateway).spec
    levels = {f.level: f for f in admission}
    adaptive_levels = {f.level: f for f in adaptive}
    return Listener(
        gateway,
        spec.address,
        spec.port,
        spec.tls,
        spec.limits,
        spec.rate_limit,
        tuple(levels[name] for name in sorted(levels)),
        tuple(adaptive_levels[name] for name in sorted(adaptive_levels)),
        rate_limit_service(policyset, gateway),
        _tracing(policyset, gateway, telemetry),
        _access_log(policyset, gateway, telemetry),
    )
