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
from envoy.config.route.v3 import route_components_pb2
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

from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.envoy.percentages import fractional_percent
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.ir.nodes import AccessLog, LogSink, Sampling, Tag, Tracing
from breakwater.translators.names import cluster_name
from breakwater.translators.telemetry_model import ROUTE_NAME_TAG

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


def _grpc_service(service: str) -> grpc_service_pb2.GrpcService:
    return grpc_service_pb2.GrpcService(
        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=cluster_name(service))
    )


def _custom_tag(tag: Tag) -> custom_tag_pb2.CustomTag:
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


def _tags(sampling: Sampling) -> list[custom_tag_pb2.CustomTag]:
    route_tag = custom_tag_pb2.CustomTag(tag=ROUTE_NAME_TAG, value="%ROUTE_NAME%")
    return [route_tag, *(_custom_tag(tag) for tag in sampling.tags)]


def hcm_tracing(tracing: Tracing) -> hcm_pb2.HttpConnectionManager.Tracing:
    """The connection manager's tracing: the OpenTelemetry tracer, its sampling, its tags."""
    tracer = opentelemetry_pb2.OpenTelemetryConfig(
        grpc_service=_grpc_service(tracing.collector), service_name=tracing.service_name
    )
    sampling = tracing.sampling
    out = hcm_pb2.HttpConnectionManager.Tracing(
        provider=http_tracer_pb2.Tracing.Http(
            name=OPENTELEMETRY_TRACER, typed_config=pack_any(tracer)
        ),
        custom_tags=_tags(sampling),
        operation=SPAN_NAME,
    )
    # Unset: Envoy's own 100 %.
    if sampling.random is not None:
        out.random_sampling.CopyFrom(percent_pb2.Percent(value=sampling.random))
    if sampling.client is not None:
        out.client_sampling.CopyFrom(percent_pb2.Percent(value=sampling.client))
    if sampling.overall is not None:
        out.overall_sampling.CopyFrom(percent_pb2.Percent(value=sampling.overall))
    return out


def route_tracing(sampling: Sampling) -> route_components_pb2.Tracing:
    """A route's own sampling and tags.

    Envoy takes all three samplings from the route once it has a `tracing`
    block (100 % for any left out), so all three are written from the
    route's merged Telemetry, gateway values included; its tags are added
    to the connection manager's, a tag of the same name replacing that one.
    """
    out = route_components_pb2.Tracing(custom_tags=_tags(sampling))
    for field, value in (
        ("random_sampling", sampling.random),
        ("client_sampling", sampling.client),
        ("overall_sampling", sampling.overall),
    ):
        if value is not None:
            getattr(out, field).CopyFrom(fractional_percent(value))
    return out


def _filter(gateway: str, log: AccessLog) -> accesslog_pb2.AccessLogFilter | None:
    parts: list[accesslog_pb2.AccessLogFilter] = []
    if log.errors:
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
    if log.sample_percent is not None:
        parts.append(
            accesslog_pb2.AccessLogFilter(
                runtime_filter=accesslog_pb2.RuntimeFilter(
                    runtime_key=f"breakwater.{gateway}.access_log.sample_percent",
                    percent_sampled=fractional_percent(log.sample_percent),
                )
            )
        )
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return accesslog_pb2.AccessLogFilter(and_filter=accesslog_pb2.AndFilter(filters=parts))


def _json_format(fields: dict[str, str]) -> substitution_format_string_pb2.SubstitutionFormatString:
    struct = struct_pb2.Struct()
    struct.update(fields)
    return substitution_format_string_pb2.SubstitutionFormatString(json_format=struct)


def _otlp_log(
    gateway: str, log: AccessLog, collector: str, fields: dict[str, str]
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
    ).value.string_value = log.service_name
    return config


def _sink_log(
    gateway: str, log: AccessLog, sink: LogSink, fields: dict[str, str]
) -> accesslog_pb2.AccessLog:
    if sink.kind == "stdout":
        stdout = stream_pb2.StdoutAccessLog(log_format=_json_format(fields))
        return accesslog_pb2.AccessLog(name=STDOUT_ACCESS_LOG, typed_config=pack_any(stdout))
    if sink.kind == "stderr":
        stderr = stream_pb2.StderrAccessLog(log_format=_json_format(fields))
        return accesslog_pb2.AccessLog(name=STDERR_ACCESS_LOG, typed_config=pack_any(stderr))
    if sink.kind == "file":
        file = file_pb2.FileAccessLog(path=sink.target or "", log_format=_json_format(fields))
        return accesslog_pb2.AccessLog(name=FILE_ACCESS_LOG, typed_config=pack_any(file))
    otlp = _otlp_log(gateway, log, sink.target or "", fields)
    return accesslog_pb2.AccessLog(name=OPENTELEMETRY_ACCESS_LOG, typed_config=pack_any(otlp))


def access_logs(gateway: str, log: AccessLog | None) -> list[accesslog_pb2.AccessLog]:
    """The connection manager's access logs, one per sink, each with the log's filter."""
    if log is None:
        return []
    fields = dict(log.fields)
    chosen = _filter(gateway, log)
    out = [_sink_log(gateway, log, sink, fields) for sink in log.sinks]
    if chosen is not None:
        for entry in out:
            entry.filter.CopyFrom(chosen)
    return out
