"""Fleet reports sent the way Envoy sends them: OTLP `Export` calls and LRS streams, over
real gRPC to the xDS port, with the gRPC status each one ended with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from envoy.service.load_stats.v3 import lrs_pb2_grpc

from breakwater.controlplane.fleet.contract import NODE_HEADER
from breakwater.controlplane.fleet.receivers import OTLP_METRICS_SERVICE
from breakwater.devtools.ports import LOOPBACK
from breakwater.otlp.v1 import metrics_pb2


def export_metrics(port: int, request: Any, node_id: str = "proxy-1") -> grpc.RpcError | None:
    """One stats flush as a proxy named `node_id` sends it; the error it got, or None."""
    with grpc.insecure_channel(f"{LOOPBACK}:{port}") as channel:
        call = channel.unary_unary(
            f"/{OTLP_METRICS_SERVICE}/Export",
            request_serializer=metrics_pb2.ExportMetricsServiceRequest.SerializeToString,
            response_deserializer=metrics_pb2.ExportMetricsServiceResponse.FromString,
        )
        try:
            call(request, metadata=((NODE_HEADER, node_id),), timeout=10)
        except grpc.RpcError as exc:
            return exc
    return None


def send_load_reports(port: int, requests: Iterable[Any]) -> grpc.RpcError | None:
    """An LRS stream that sends `requests` (the first names the node) and then ends; the
    error it ended with, or None."""
    with grpc.insecure_channel(f"{LOOPBACK}:{port}") as channel:
        stub = lrs_pb2_grpc.LoadReportingServiceStub(channel)
        try:
            for _ in stub.StreamLoadStats(iter(list(requests)), timeout=10):
                pass
        except grpc.RpcError as exc:
            return exc
    return None
