"""A proxy's reports, sent by real gRPC clients: one OTLP `Export`, one LRS stream.

The OTLP service is called by its OTLP name with Breakwater's wire-compatible
messages (as Envoy's stats sink calls it); LRS uses the `xds-protos` stubs.
Both raise `grpc.RpcError` when the server refuses the call; `export_metrics` and
`send_load_reports` open their own plain channel and hand the refusal back instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import load_report_pb2
from envoy.service.load_stats.v3 import lrs_pb2, lrs_pb2_grpc

from breakwater.controlplane.fleet.contract import NODE_HEADER
from breakwater.controlplane.fleet.receivers import OTLP_METRICS_SERVICE
from breakwater.devtools.ports import LOOPBACK
from breakwater.otlp.v1 import metrics_pb2

Metadata = Sequence[tuple[str, str]]


def export(
    channel: grpc.Channel,
    request: metrics_pb2.ExportMetricsServiceRequest,
    node_id: str,
    metadata: Metadata = (),
) -> None:
    """One stats flush of node `node_id` (named in the `x-breakwater-node` header)."""
    call = channel.unary_unary(
        f"/{OTLP_METRICS_SERVICE}/Export",
        request_serializer=metrics_pb2.ExportMetricsServiceRequest.SerializeToString,
        response_deserializer=metrics_pb2.ExportMetricsServiceResponse.FromString,
    )
    call(request, metadata=((NODE_HEADER, node_id), *metadata), timeout=5)


def cluster_load(
    cluster: str, address: str, port: int, succeeded: int
) -> load_report_pb2.ClusterStats:
    """LRS stats of one cluster: `succeeded` requests to one endpoint."""
    stats = load_report_pb2.ClusterStats(cluster_name=cluster)
    endpoint = stats.upstream_locality_stats.add().upstream_endpoint_stats.add()
    endpoint.address.socket_address.address = address
    endpoint.address.socket_address.port_value = port
    endpoint.total_successful_requests = succeeded
    endpoint.total_issued_requests = succeeded
    return stats


def load_report(
    channel: grpc.Channel,
    node_id: str,
    node_cluster: str,
    stats: Sequence[load_report_pb2.ClusterStats],
    metadata: Metadata = (),
) -> None:
    """An LRS stream as Envoy opens it (the node first), one report of `stats`, then the end."""
    first = lrs_pb2.LoadStatsRequest(node=base_pb2.Node(id=node_id, cluster=node_cluster))
    report = lrs_pb2.LoadStatsRequest(cluster_stats=list(stats))
    load_stream(channel, [first, report], metadata)


def load_stream(channel: grpc.Channel, requests: Iterable[Any], metadata: Metadata = ()) -> None:
    """An LRS stream that sends `requests` (the first names the node), then ends."""
    stub = lrs_pb2_grpc.LoadReportingServiceStub(channel)
    for _ in stub.StreamLoadStats(iter(list(requests)), metadata=tuple(metadata), timeout=10):
        pass


def export_metrics(port: int, request: Any, node_id: str = "proxy-1") -> grpc.RpcError | None:
    """`export` over a plain channel to the xDS port; the error it got, or None."""
    with grpc.insecure_channel(f"{LOOPBACK}:{port}") as channel:
        try:
            export(channel, request, node_id)
        except grpc.RpcError as exc:
            return exc
    return None


def send_load_reports(port: int, requests: Iterable[Any]) -> grpc.RpcError | None:
    """`load_stream` over a plain channel to the xDS port; the error it ended with, or None."""
    with grpc.insecure_channel(f"{LOOPBACK}:{port}") as channel:
        try:
            load_stream(channel, requests)
        except grpc.RpcError as exc:
            return exc
    return None
