"""The gRPC services Envoy reports to, on the xDS port: OTLP metrics and LRS.

They share the xDS server, so its TLS, mTLS, message-size and stream limits
apply to them too: a proxy that may not fetch config may not report either.

Why Envoy's OpenTelemetry stats sink and not its metrics-service sink: the
metrics service's protos (`envoy.service.metrics.v3`) are not in `xds-protos`,
while OTLP is a published wire format; OTLP also carries counters as deltas
(`report_counters_as_deltas`), which is what makes a restarted proxy harmless,
and explicit histogram buckets. The messages are Breakwater's own
(`breakwater.otlp.v1`, wire-compatible with OTLP's) and the service is
registered by its OTLP name.

The stats sink sends one unary `Export` per flush, with no node in it: the
bootstrap adds the node id as the `x-breakwater-node` request header. LRS
streams name their node in the first request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from envoy.service.load_stats.v3 import lrs_pb2, lrs_pb2_grpc
from google.protobuf import duration_pb2

from breakwater.controlplane.fleet.aggregate import FleetStats
from breakwater.controlplane.fleet.contract import NODE_HEADER
from breakwater.controlplane.fleet.listeners import gateways_from_otlp
from breakwater.controlplane.fleet.reports import ReportError, from_lrs, from_otlp
from breakwater.otlp.v1 import metrics_pb2 as otlp
from breakwater.translators.proxyless import client_profile

log = logging.getLogger(__name__)

Context = Any  # grpc.aio.ServicerContext (generic in the stubs, untyped at run time)


OTLP_METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"


class _MetricsReceiver:
    def __init__(self, fleet: FleetStats, known: Callable[[], frozenset[str]]) -> None:
        self._fleet = fleet
        self._known = known

    def add_to_server(self, server: grpc.aio.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(
            self.Export,
            request_deserializer=otlp.ExportMetricsServiceRequest.FromString,
            response_serializer=otlp.ExportMetricsServiceResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(OTLP_METRICS_SERVICE, {"Export": handler}),)
        )

    async def Export(self, request: Any, context: Context) -> Any:
        node = _node_of(context)
        try:
            reports = from_otlp(request, known=self._known())
            gateways = gateways_from_otlp(request)
        except ReportError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        now = time.monotonic()
        self._fleet.ingest(node, now, reports)
        if gateways:
            self._fleet.ingest_gateways(node, now, gateways)
        return otlp.ExportMetricsServiceResponse()


class _LoadReceiver(lrs_pb2_grpc.LoadReportingServiceServicer):  # type: ignore[misc]
    """LRS streams: one per proxy (or proxyless gRPC client, whose calls they count), open
    for as long as the proxy runs.

    Because Envoy never ends them, a stopping server would otherwise have to
    cancel them after its grace period, and gRPC logs each such cancellation
    as an unhandled error; `close` ends every stream with OK instead, and
    Envoy reconnects to whichever replica is serving.
    """

    def __init__(
        self, fleet: FleetStats, known: Callable[[], frozenset[str]], interval: float
    ) -> None:
        self._fleet = fleet
        self._known = known
        self._interval = interval
        self._closing = asyncio.Event()

    def close(self) -> None:
        self._closing.set()

    async def StreamLoadStats(
        self, requests: AsyncIterator[Any], context: Context
    ) -> AsyncIterator[Any]:
        node: str | None = None
        calls = False
        async for request in self._until_closed(requests):
            if node is None:
                node = request.node.id or _node_of(context)
                calls = client_profile(str(request.node.user_agent_name)) is not None
                interval = duration_pb2.Duration()
                interval.FromNanoseconds(int(self._interval * 1e9))
                yield lrs_pb2.LoadStatsResponse(
                    send_all_clusters=True,
                    load_reporting_interval=interval,
                    report_endpoint_granularity=True,
                )
            if request.cluster_stats:
                try:
                    reports = from_lrs(request.cluster_stats, known=self._known(), calls=calls)
                except ReportError as exc:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                self._fleet.ingest(node, time.monotonic(), reports)

    async def _until_closed(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """The stream's requests, ending early (and quietly) once `close` was called."""
        closing = asyncio.ensure_future(self._closing.wait())
        received: asyncio.Future[Any] | None = None
        try:
            while True:
                received = asyncio.ensure_future(anext(requests))
                # A read left behind (the stream closed or this generator was dropped) may
                # still end with the stream's StopAsyncIteration: nobody would retrieve it.
                received.add_done_callback(_retrieved)
                await asyncio.wait((received, closing), return_when=asyncio.FIRST_COMPLETED)
                if not received.done():
                    return
                try:
                    request = received.result()
                except StopAsyncIteration:
                    return
                yield request
        finally:
            closing.cancel()
            if received is not None:
                received.cancel()


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _node_of(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == NODE_HEADER:
            return str(value)
    return f"peer:{context.peer()}"


class Receivers:
    """Both receivers, added to an xDS server by `hook` and ended by `close`."""

    def __init__(
        self, fleet: FleetStats, known_clusters: Callable[[], frozenset[str]], load_interval: float
    ) -> None:
        self._fleet = fleet
        self._known = known_clusters
        self._load_interval = load_interval
        self._load: _LoadReceiver | None = None

    def hook(self, server: grpc.aio.Server) -> None:
        """For `XdsServer(services=...)`: both receivers on the xDS port.

        Called each time the xDS server starts; each start gets LRS streams
        that the previous `close` has not ended.
        """
        _MetricsReceiver(self._fleet, self._known).add_to_server(server)
        self._load = _LoadReceiver(self._fleet, self._known, self._load_interval)
        lrs_pb2_grpc.add_LoadReportingServiceServicer_to_server(self._load, server)

    def close(self) -> None:
        """End the open LRS streams; called before the xDS server stops."""
        if self._load is not None:
            self._load.close()
