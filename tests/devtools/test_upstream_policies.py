"""`python -m breakwater.devtools.upstream --policies DIR` starts what the examples route and
export to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc

from breakwater.devtools.otlp import OTLP_TRACE_SERVICE
from breakwater.devtools.ports import free_ports
from breakwater.devtools.traffic import send_requests
from breakwater.devtools.upstream.policies import collectors_of, endpoints_of
from breakwater.otlp.v1 import trace_pb2

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def test_every_http_endpoint_of_the_examples_with_its_subset_and_the_rest_named() -> None:
    endpoints, skipped = endpoints_of(EXAMPLES)
    assert [(e.instance, e.port, e.otlp) for e in endpoints] == [
        ("payments-stable", 18081, False),
        ("payments-canary", 18082, False),
        ("payments-fallback", 18083, False),
        ("payments-shadow", 18084, False),
        ("otel-collector", 4317, True),
    ]
    assert {s.service for s in skipped} == {"ledger", "catalog"}


def test_a_collector_is_one_a_telemetry_exports_spans_or_access_logs_to(tmp_path: Path) -> None:
    (tmp_path / "telemetry.yaml").write_text(
        "apiVersion: breakwater.dev/v1alpha1\nkind: Telemetry\nmetadata: {name: a}\n"
        "spec: {tracing: {openTelemetry: {service: traces}}}\n---\n"
        "apiVersion: breakwater.dev/v1alpha1\nkind: Telemetry\nmetadata: {name: b}\n"
        "spec:\n  accessLog: {to: [stdout, {file: /tmp/x}, {openTelemetry: {service: logs}}]}\n"
        "---\napiVersion: breakwater.dev/v1alpha1\nkind: Telemetry\nmetadata: {name: c}\n"
        "spec: {tracing: {disabled: true}, accessLog: {disabled: true}}\n"
    )
    assert collectors_of(tmp_path) == {"traces", "logs"}
    assert collectors_of(EXAMPLES) == {"otel-collector"}


def _policies(directory: Path, http_port: int, otlp_port: int) -> None:
    (directory / "policies.yaml").write_text(
        "apiVersion: breakwater.dev/v1alpha1\nkind: Service\nmetadata: {name: web}\n"
        f"spec: {{endpoints: [{{address: 127.0.0.1, port: {http_port}}}]}}\n---\n"
        "apiVersion: breakwater.dev/v1alpha1\nkind: Service\nmetadata: {name: collector}\n"
        f"spec: {{protocol: grpc, endpoints: [{{address: 127.0.0.1, port: {otlp_port}}}]}}\n"
        "---\napiVersion: breakwater.dev/v1alpha1\nkind: Telemetry\nmetadata: {name: all}\n"
        "spec: {tracing: {openTelemetry: {service: collector}}}\n"
    )


def _export_one_span(port: int) -> None:
    request = trace_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "GET web/0/0"
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(
            f"/{OTLP_TRACE_SERVICE}/Export",
            request_serializer=trace_pb2.ExportTraceServiceRequest.SerializeToString,
            response_deserializer=trace_pb2.ExportTraceServiceResponse.FromString,
        )
        export(request, timeout=10)


def test_the_command_serves_the_http_services_and_sinks_what_the_collector_is_sent(
    tmp_path: Path,
) -> None:
    http_port, otlp_port = free_ports(2)
    _policies(tmp_path, http_port, otlp_port)
    command = [sys.executable, "-m", "breakwater.devtools.upstream", "--policies", str(tmp_path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(2)]
            assert lines == [
                f"otlp collector listening on 127.0.0.1:{otlp_port}\n",
                f"upstream web listening on http://127.0.0.1:{http_port}\n",
            ]
            assert send_requests(f"http://127.0.0.1:{http_port}", 2).by_instance == {"web": 2}
            _export_one_span(otlp_port)
            assert process.stdout.readline() == "otlp collector received spans: 1\n"
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


def test_a_collector_port_already_taken_stops_the_command_with_a_sentence(
    tmp_path: Path,
) -> None:
    http_port, otlp_port = free_ports(2)
    _policies(tmp_path, http_port, otlp_port)
    command = [sys.executable, "-m", "breakwater.devtools.upstream", "--policies", str(tmp_path)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None
        assert "otlp collector listening" in first.stdout.readline()
        second = subprocess.run(command, capture_output=True, text=True, timeout=30)
    finally:
        first.terminate()
        first.wait(timeout=10)
    assert second.returncode == 1
    assert f"cannot listen on 127.0.0.1:{otlp_port}" in second.stderr
