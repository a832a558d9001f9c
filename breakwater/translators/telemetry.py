"""Telemetry → the connection manager's `tracing` and `access_log`, and a route's `tracing`.

Tracing is Envoy's OpenTelemetry tracer, exporting over OTLP/gRPC to a
collector that is a Breakwater Service (so it is a cluster the proxy gets,
whether or not a route sends to it). It reads an incoming W3C `traceparent`
and sends one on to the upstream, so a span joins the trace it came with.
Envoy's spans already carry `upstream_cluster`, `response_flags` and
`http.status_code`; Breakwater adds `route_name`, the same name and value as
the access log's field, so a span and a log line of one request share it.

Access logs are one JSON object per request, with the same fields whichever
sink they go to; OTLP log records carry them as attributes, and Envoy puts
the active span's trace id on each record.
"""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import (
    base_pb2,
    config_source_pb2,
    grpc_service_pb2,
    substitution_format_string_pb2,
)
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.access_loggers.open_telemetry.v3 import logs_service_pb2
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.tracing.v3 import custom_tag_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import struct_pb2

from breakwater.log_fields import ACCESS_LOG_FIELDS
from breakwater.translators.clusters import Target, pack_any
from breakwater.translators.meanings import FieldMeaning, Meanings
from breakwater.translators.names import cluster_name
from breakwater.translators.percentages import fractional_percent
from breakwater.translators.policyset import PolicySet
from breakwater.translators.telemetry_model import (
    ROUTE_NAME_TAG,
    AccessLog,
    AccessLogFilter,
    Sink,
    TelemetrySpec,
    Tracing,
    TracingTag,
)

OPENTELEMETRY_TRACER = "envoy.tracers.opentelemetry"
STDOUT_ACCESS_LOG = "envoy.access_loggers.stdout"
STDERR_ACCESS_LOG = "envoy.access_loggers.stderr"
FILE_ACCESS_LOG = "envoy.access_loggers.file"
OPENTELEMETRY_ACCESS_LOG = "envoy.access_loggers.open_telemetry"

OTLP_LOG_BODY = "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%"
"""An OTLP log record's body: one line to read; the fields are its attributes."""

SERVICE_NAME_ATTRIBUTE = "service.name"

SPAN_NAME = "%REQ(:METHOD)% %ROUTE_NAME%"
"""`GET payments/0/0`: the method and the route, as OpenTelemetry names a server span,
instead of Envoy's `ingress` for all of them."""

ERROR_STATUS = 500

EXPLAIN: Meanings = {
    ("tracing", "disabled"): FieldMeaning(
        "no hcm.tracing", "spans stop at once; a `traceparent` passes through to the upstream"
    ),
    ("tracing", "open_telemetry", "service"): FieldMeaning(
        "hcm.tracing.provider envoy.tracers.opentelemetry grpc_service.envoy_grpc.cluster_name",
        "spans are batched: sent every 5 s or every 5 spans (Envoy's defaults)",
    ),
    ("tracing", "open_telemetry", "service_name"): FieldMeaning(
        "OpenTelemetryConfig.service_name", "Breakwater uses the gateway's name when unset"
    ),
    ("tracing", "sampling_percent"): FieldMeaning(
        "hcm.tracing.random_sampling (route.tracing.random_sampling for a route)",
        "drawn from the request id, for requests with a `traceparent` too; one its caller did "
        "not sample (flags 00) is never exported (Envoy default 100 % when unset)",
    ),
    ("tracing", "client_sampling_percent"): FieldMeaning(
        "hcm.tracing.client_sampling (route.tracing.client_sampling)",
        "only for requests with x-client-trace-id (Envoy default 100 % when unset)",
    ),
    ("tracing", "overall_sampling_percent"): FieldMeaning(
        "hcm.tracing.overall_sampling (route.tracing.overall_sampling)",
        "a last cap after the other two (Envoy default 100 % when unset)",
    ),
    ("tracing", "tags"): FieldMeaning(
        "hcm.tracing.custom_tags (route.tracing.custom_tags)",
        "Breakwater always adds route_name; merged by tag name, the most specific wins",
    ),
    ("access_log", "disabled"): FieldMeaning("no hcm.access_log"),
    ("access_log", "format"): FieldMeaning("log_format.json_format"),
    ("access_log", "fields"): FieldMeaning(
        "log_format.json_format (OTLP: the record's attributes)",
        "laid over Breakwater's default fields; a field set to null is left out",
    ),
    ("access_log", "to"): FieldMeaning(
        "hcm.access_log: envoy.access_loggers.stdout, stderr, file, open_telemetry",
        "OTLP records carry the span's trace id; Envoy sends them every second",
    ),
    ("access_log", "filter", "errors"): FieldMeaning(
        "access_log.filter: status >= 500 or any response flag"
    ),
    ("access_log", "filter", "sample_percent"): FieldMeaning(
        "access_log.filter.runtime_filter.percent_sampled",
        "drawn from the request id, like trace sampling: at equal percentages the logged "
        "requests are the traced ones",
    ),
}
"""What `breakwater explain gateway/NAME` says about the Telemetry fields."""


def collector_services(spec: TelemetrySpec) -> list[str]:
    """The Services a gateway with this Telemetry exports to, tracer first."""
    found: dict[str, None] = {}
    tracing = spec.tracing
    collector = tracing.open_telemetry if tracing is not None and not tracing.disabled else None
    if collector is not None and collector.service is not None:
        found[collector.service] = None
    log = spec.access_log
    if log is not None and not log.disabled:
        for sink in log.to or []:
            if sink.open_telemetry is not None:
                found[sink.open_telemetry.service] = None
    return list(found)


def collector_targets(policyset: PolicySet, gateways: list[str]) -> list[Target]:
    """The collectors of these gateways, as the clusters their proxies need; unknown ones left out."""
    found: dict[Target, None] = {}
    for gateway in gateways:
        for service in collector_services(policyset.effective_telemetry(gateway).spec):
            if service in policyset.services:
                found[(service, None)] = None
    return list(found)


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


def _grpc_service(service: str) -> grpc_service_pb2.GrpcService:
    return grpc_service_pb2.GrpcService(
        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=cluster_name(service))
    )


def _custom_tag(tag: TracingTag) -> custom_tag_pb2.CustomTag:
    out = custom_tag_pb2.CustomTag(tag=tag.name)
    if tag.literal is not None:
        out.literal.value = tag.literal
    elif tag.header is not None:
        out.request_header.name = tag.header
        out.request_header.default_value = tag.default or ""
    elif tag.environment is not None:
        out.environment.name = tag.environment
        out.environment.default_value = tag.default or ""
    return out


def _tags(tracing: Tracing) -> list[custom_tag_pb2.CustomTag]:
    route_tag = custom_tag_pb2.CustomTag(tag=ROUTE_NAME_TAG, value="%ROUTE_NAME%")
    return [route_tag, *(_custom_tag(tag) for tag in tracing.tags)]


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


def hcm_tracing(
    policyset: PolicySet, gateway: str, spec: TelemetrySpec
) -> hcm_pb2.HttpConnectionManager.Tracing | None:
    """The connection manager's tracing: the OpenTelemetry tracer, its sampling, its tags."""
    collector = tracing_collector(policyset, spec)
    tracing = spec.tracing
    if collector is None or tracing is None:
        return None
    tracer = opentelemetry_pb2.OpenTelemetryConfig(
        grpc_service=_grpc_service(collector), service_name=service_name(gateway, spec)
    )
    out = hcm_pb2.HttpConnectionManager.Tracing(
        provider=http_tracer_pb2.Tracing.Http(
            name=OPENTELEMETRY_TRACER, typed_config=pack_any(tracer)
        ),
        custom_tags=_tags(tracing),
        operation=SPAN_NAME,
    )
    # Unset: Envoy's own 100 %.
    if tracing.sampling_percent is not None:
        out.random_sampling.CopyFrom(percent_pb2.Percent(value=tracing.sampling_percent))
    if tracing.client_sampling_percent is not None:
        out.client_sampling.CopyFrom(percent_pb2.Percent(value=tracing.client_sampling_percent))
    if tracing.overall_sampling_percent is not None:
        out.overall_sampling.CopyFrom(percent_pb2.Percent(value=tracing.overall_sampling_percent))
    return out


def route_tracing(tracing: Tracing) -> route_components_pb2.Tracing:
    """A route's own sampling and tags.

    Envoy takes all three samplings from the route once it has a `tracing`
    block (100 % for any left out), so all three are written from the
    route's merged Telemetry, gateway values included; its tags are added
    to the connection manager's, a tag of the same name replacing that one.
    """
    out = route_components_pb2.Tracing(custom_tags=_tags(tracing))
    for field, value in (
        ("random_sampling", tracing.sampling_percent),
        ("client_sampling", tracing.client_sampling_percent),
        ("overall_sampling", tracing.overall_sampling_percent),
    ):
        if value is not None:
            getattr(out, field).CopyFrom(fractional_percent(value))
    return out


def traced_routes(policyset: PolicySet) -> frozenset[str]:
    """The HTTPRoutes that some Telemetry targets: only their routes can carry their own tracing."""
    return frozenset(
        spec.target_ref.name
        for spec in (t.spec for t in policyset.telemetry.values())
        if spec.target_ref is not None and spec.target_ref.kind == "HTTPRoute"
    )


def route_tracing_of(
    policyset: PolicySet, gateway: str, route: str, traced: frozenset[str]
) -> route_components_pb2.Tracing | None:
    """The tracing every Envoy route of an HTTPRoute gets on a gateway that traces, if any;
    `traced` is `traced_routes(policyset)`."""
    if route not in traced:
        return None
    spec = policyset.effective_telemetry(gateway, route).spec
    if tracing_collector(policyset, spec) is None or spec.tracing is None:
        return None
    return route_tracing(spec.tracing)


def apply_route_tracing(
    policyset: PolicySet, gateway: str, config: route_pb2.RouteConfiguration
) -> None:
    """Give the routes of each HTTPRoute that has its own Telemetry their tracing, on a gateway that traces."""
    traced = traced_routes(policyset)
    if not traced:
        return
    for host in config.virtual_hosts:
        tracing = route_tracing_of(policyset, gateway, host.name, traced)
        if tracing is None:
            continue
        for route in host.routes:
            route.tracing.CopyFrom(tracing)


def _filter(gateway: str, wanted: AccessLogFilter | None) -> accesslog_pb2.AccessLogFilter | None:
    parts: list[accesslog_pb2.AccessLogFilter] = []
    if wanted is not None and wanted.errors:
        status = accesslog_pb2.AccessLogFilter(
            status_code_filter=accesslog_pb2.StatusCodeFilter(
                comparison=accesslog_pb2.ComparisonFilter(
                    op=accesslog_pb2.ComparisonFilter.GE,
                    value=base_pb2.RuntimeUInt32(
                        default_value=ERROR_STATUS,
                        runtime_key=f"breakwater.{gateway}.access_log.error_status",
                    ),
                )
            )
        )
        # No flags listed: any flag matches.
        flagged = accesslog_pb2.AccessLogFilter(
            response_flag_filter=accesslog_pb2.ResponseFlagFilter()
        )
        parts.append(
            accesslog_pb2.AccessLogFilter(
                or_filter=accesslog_pb2.OrFilter(filters=[status, flagged])
            )
        )
    if wanted is not None and wanted.sample_percent is not None:
        parts.append(
            accesslog_pb2.AccessLogFilter(
                runtime_filter=accesslog_pb2.RuntimeFilter(
                    runtime_key=f"breakwater.{gateway}.access_log.sample_percent",
                    percent_sampled=fractional_percent(wanted.sample_percent),
                )
            )
        )
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return accesslog_pb2.AccessLogFilter(and_filter=accesslog_pb2.AndFilter(filters=parts))


def access_log_fields(log: AccessLog | None) -> dict[str, str]:
    """The default fields with the Telemetry's laid over them."""
    fields = dict(ACCESS_LOG_FIELDS)
    for name, value in (log.fields if log is not None else {}).items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return fields


def _json_format(fields: dict[str, str]) -> substitution_format_string_pb2.SubstitutionFormatString:
    struct = struct_pb2.Struct()
    struct.update(fields)
    return substitution_format_string_pb2.SubstitutionFormatString(json_format=struct)


def _otlp_log(
    gateway: str, spec: TelemetrySpec, collector: str, fields: dict[str, str]
) -> logs_service_pb2.OpenTelemetryAccessLogConfig:
    config = logs_service_pb2.OpenTelemetryAccessLogConfig(
        common_config=als_pb2.CommonGrpcAccessLogConfig(
            log_name=gateway,
            grpc_service=_grpc_service(collector),
            transport_api_version=config_source_pb2.ApiVersion.V3,
        )
    )
    config.body.string_value = OTLP_LOG_BODY
    for name, value in fields.items():
        config.attributes.values.add(key=name).value.string_value = value
    config.resource_attributes.values.add(
        key=SERVICE_NAME_ATTRIBUTE
    ).value.string_value = service_name(gateway, spec)
    return config


def _sink_log(
    policyset: PolicySet, gateway: str, spec: TelemetrySpec, sink: Sink, fields: dict[str, str]
) -> accesslog_pb2.AccessLog | None:
    if sink.stdout:
        stdout = stream_pb2.StdoutAccessLog(log_format=_json_format(fields))
        return accesslog_pb2.AccessLog(name=STDOUT_ACCESS_LOG, typed_config=pack_any(stdout))
    if sink.stderr:
        stderr = stream_pb2.StderrAccessLog(log_format=_json_format(fields))
        return accesslog_pb2.AccessLog(name=STDERR_ACCESS_LOG, typed_config=pack_any(stderr))
    if sink.file is not None:
        file = file_pb2.FileAccessLog(path=sink.file, log_format=_json_format(fields))
        return accesslog_pb2.AccessLog(name=FILE_ACCESS_LOG, typed_config=pack_any(file))
    if sink.open_telemetry is not None and sink.open_telemetry.service in policyset.services:
        otlp = _otlp_log(gateway, spec, sink.open_telemetry.service, fields)
        return accesslog_pb2.AccessLog(name=OPENTELEMETRY_ACCESS_LOG, typed_config=pack_any(otlp))
    return None


def access_logs(
    policyset: PolicySet, gateway: str, spec: TelemetrySpec
) -> list[accesslog_pb2.AccessLog]:
    """The connection manager's access logs: JSON to stdout unless a Telemetry says otherwise.

    An OTLP sink whose collector is not a declared Service is left out
    (validation reports it), as Envoy would refuse the whole listener.
    """
    log = spec.access_log
    if log is not None and log.disabled:
        return []
    fields = access_log_fields(log)
    chosen = _filter(gateway, log.filter if log is not None else None)
    sinks = (log.to if log is not None else None) or [Sink(stdout=True)]
    out = [
        entry
        for entry in (_sink_log(policyset, gateway, spec, sink, fields) for sink in sinks)
        if entry is not None
    ]
    if chosen is not None:
        for entry in out:
            entry.filter.CopyFrom(chosen)
    return out
