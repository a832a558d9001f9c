"""A real OTLP/gRPC receiver of traces and logs, for tests and the demo: what a collector would get.

It serves OTLP's own service names (`opentelemetry.proto.collector.trace.v1.TraceService`,
`...logs.v1.LogsService`) with generic handlers that decode Breakwater's wire-compatible
messages (`breakwater.otlp.v1`), for the reason `proto/breakwater/otlp/v1/metrics.proto`
gives, and keeps every span and log record it was sent, decoded into plain values.
Synchronous (gRPC's thread-pool server) so that plain test functions can start it,
read it while Envoy sends, and stop it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import grpc

from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.waiting import wait_until
from breakwater.otlp.v1 import common_pb2, logs_pb2, trace_pb2

OTLP_TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
OTLP_LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


def plain(value: common_pb2.AnyValue) -> Any:
    """An OTLP value as Python: str, bool, int, float, bytes, list or dict."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: plain(pair.value) for pair in pairs}


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    """32 hex digits, as in a `traceparent`."""
    span_id: str
    parent_span_id: str
    """"" for a root span."""
    name: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]

    @property
    def service_name(self) -> str | None:
        name = self.resource.get("service.name")
        return name if isinstance(name, str) else None


@dataclass(frozen=True)
class ReceivedLog:
    body: Any
    attributes: dict[str, Any]
    resource: dict[str, Any]
    trace_id: str
    """"" when the request was not traced."""
    span_id: str


class OtlpReceiver:
    """Listens on `host`:`port` (a free port when 0) until `stop`; `spans()` and `logs()` read
    what came, and `on_export`, when given, hears of each export: `("spans", 5)`. With
    `keep=False` it keeps nothing (a sink that runs for hours), and only `exports` counts."""

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 0,
        on_export: Callable[[str, int], None] | None = None,
        *,
        keep: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self._on_export = on_export
        self._keep = keep
        self._server: grpc.Server | None = None
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._logs: list[ReceivedLog] = []
        self.exports = 0
        """Export calls received, traces and logs together."""

    def start(self) -> Self:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp"),
            # A second receiver on a taken port must fail, not share it with the first.
            options=[("grpc.so_reuseport", 0)],
        )
        server.add_generic_rpc_handlers(
            (
                _export_handler(
                    OTLP_TRACE_SERVICE,
                    trace_pb2.ExportTraceServiceRequest,
                    trace_pb2.ExportTraceServiceResponse,
                    self._traces,
                ),
                _export_handler(
                    OTLP_LOGS_SERVICE,
                    logs_pb2.ExportLogsServiceRequest,
                    logs_pb2.ExportLogsServiceResponse,
                    self._log_records,
                ),
            )
        )
        try:
            self.port = server.add_insecure_port(f"{self.host}:{self.port}")
        except RuntimeError as exc:  # gRPC's word for a port it could not bind
            raise OSError(f"the OTLP receiver cannot listen on {self.host}:{self.port}") from exc
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=None).wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def logs(self) -> list[ReceivedLog]:
        with self._lock:
            return list(self._logs)

    def wait_for_spans(self, count: int, timeout: float = 15.0) -> list[ReceivedSpan]:
        """At least `count` spans; Envoy sends them in batches, every 5 s when few come."""
        wait_until(lambda: len(self.spans()) >= count, timeout, f"{count} spans")
        return self.spans()

    def wait_for_logs(self, count: int, timeout: float = 10.0) -> list[ReceivedLog]:
        wait_until(lambda: len(self.logs()) >= count, timeout, f"{count} log records")
        return self.logs()

    def _traces(self, request: trace_pb2.ExportTraceServiceRequest) -> None:
        received = [
            ReceivedSpan(
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_span_id=span.parent_span_id.hex(),
                name=span.name,
                kind=span.kind,
                attributes=attributes(span.attributes),
                resource=attributes(resource_spans.resource.attributes),
            )
            for resource_spans in request.resource_spans
            for scope in resource_spans.scope_spans
            for span in scope.spans
        ]
        with self._lock:
            self.exports += 1
            if self._keep:
                self._spans.extend(received)
        if self._on_export is not None:
            self._on_export("spans", len(received))

    def _log_records(self, request: logs_pb2.ExportLogsServiceRequest) -> None:
        received = [
            ReceivedLog(
                body=plain(record.body),
                attributes=attributes(record.attributes),
                resource=attributes(resource_logs.resource.attributes),
                trace_id=record.trace_id.hex(),
                span_id=record.span_id.hex(),
            )
            for resource_logs in request.resource_logs
            for scope in resource_logs.scope_logs
            for record in scope.log_records
        ]
        with self._lock:
            self.exports += 1
            if self._keep:
                self._logs.extend(received)
        if self._on_export is not None:
            self._on_export("log records", len(received))


def _export_handler(
    service: str, request_type: Any, response_type: Any, keep: Callable[[Any], None]
) -> grpc.GenericRpcHandler[Any, Any]:
    def export(request: Any, context: grpc.ServicerContext) -> Any:
        keep(request)
        return response_type()

    handler = grpc.unary_unary_rpc_method_handler(
        export,
        request_deserializer=request_type.FromString,
        response_serializer=response_type.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(service, {"Export": handler})
