"""The ADS gRPC service and the server that carries it.

:class:`AdsServicer` runs one loop per stream: hand the requests read so
far to the stream, then let it answer against its group's current snapshot,
and sleep until the next request, snapshot change or ordering timer. It
reaches the snapshots only through :class:`~.source.SnapshotSource`.
:class:`XdsServer` binds the port, with ADS and any other gRPC service
(Breakwater's own API) on it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import grpc
from envoy.service.discovery.v3 import discovery_pb2

from breakwater.controlplane.limits import MAX_NODE_METADATA_BYTES
from breakwater.controlplane.listen import CannotListen, in_use

from .delta import DeltaStream
from .options import ORDERING_TIMEOUT, XdsServerOptions
from .sotw import SotwStream
from .source import SnapshotSource
from .status import StreamRegistry
from .stream import Refused, Stream
from .subscription import Request

log = logging.getLogger(__name__)

SERVICE_NAME = "envoy.service.discovery.v3.AggregatedDiscoveryService"
SOTW_METHOD = "StreamAggregatedResources"
DELTA_METHOD = "DeltaAggregatedResources"

Context: TypeAlias = "grpc.aio.ServicerContext[Any, bytes]"

Admission = Callable[[int, Any, Any], Awaitable[None]]
"""Called with the stream id, the node and the call's context when a stream names its node,
before it counts as a proxy; it refuses the node by ending the call (`context.abort`). What
a node may claim is the hook's business: the server knows none of it."""


class AdsServicer:
    """``AggregatedDiscoveryService`` over ``grpc.aio``.

    Responses are produced as already-encoded bytes and registered without a
    serializer (gRPC sends bytes as they are), so a push never re-serializes
    resources per stream, nor calls into Python to pass them through.
    """

    def __init__(
        self,
        cache: SnapshotSource,
        registry: StreamRegistry | None = None,
        *,
        ordering_timeout: float = ORDERING_TIMEOUT,
        admit: Admission | None = None,
    ) -> None:
        self.cache = cache
        self.ordering_timeout = ordering_timeout
        self.admit = admit
        self.registry = registry if registry is not None else StreamRegistry()
        self._ids = itertools.count(1)

    async def StreamAggregatedResources(
        self, requests: AsyncIterator[Request], context: Context
    ) -> AsyncIterator[bytes]:
        stream = SotwStream(next(self._ids), context.peer(), self.registry, self.ordering_timeout)
        async for response in self._serve(stream, requests, context):
            yield response
            del response  # an idle stream must not pin the last body it sent

    async def DeltaAggregatedResources(
        self, requests: AsyncIterator[Request], context: Context
    ) -> AsyncIterator[bytes]:
        stream = DeltaStream(next(self._ids), context.peer(), self.registry, self.ordering_timeout)
        async for response in self._serve(stream, requests, context):
            yield response
            del response  # an idle stream must not pin the last body it sent

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:  # type: ignore[type-arg]
        sotw: Any = self.StreamAggregatedResources
        delta: Any = self.DeltaAggregatedResources
        return {
            SOTW_METHOD: grpc.stream_stream_rpc_method_handler(
                sotw,
                request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
                response_serializer=None,
            ),
            DELTA_METHOD: grpc.stream_stream_rpc_method_handler(
                delta,
                request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
                response_serializer=None,
            ),
        }

    def add_to_server(self, server: grpc.aio.Server) -> None:
        handlers = self.method_handlers()
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),)
        )
        register: Any = getattr(server, "add_registered_method_handlers", None)
        if register is not None:
            register(SERVICE_NAME, handlers)

    async def _serve(
        self, stream: Stream, requests: AsyncIterator[Request], context: Context
    ) -> AsyncIterator[bytes]:
        self.registry.add(stream)
        reader = asyncio.create_task(stream.read(requests))
        try:
            while True:
                stream.idle = True
                await stream.wake.wait()
                stream.idle = False
                stream.wake.clear()
                if stream.refused is not None:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(stream.refused))
                while stream.inbox:
                    request = stream.inbox.pop(0)
                    if stream.node is None:
                        await self._identify(stream, request, context)
                    try:
                        stream.handle(request)
                    except Refused as exc:
                        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
                stream.drained.set()
                snapshot = self.cache.get_snapshot(stream.group) if stream.node else None
                if snapshot is not None and (
                    snapshot.version != stream.evaluated or not stream.quiet()
                ):
                    for response in stream.evaluate(snapshot):
                        yield response
                    response = b""  # an idle stream must not pin the last body it sent
                if stream.closed and not stream.inbox:
                    break
            if stream.error is not None:
                raise stream.error
        finally:
            reader.cancel()
            stream.close()
            self.registry.remove(stream)
            if stream.node is not None:
                self.cache.unwatch(stream.group, stream.wake)
                log.info(
                    "node %s disconnected (%s stream %d)",
                    stream.node_id,
                    stream.mode,
                    stream.stream_id,
                )
                self.registry.emit("on_disconnect", stream.status())

    async def _identify(self, stream: Stream, request: Request, context: Context) -> None:
        if not request.HasField("node") or not request.node.id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "first request carries no node id"
            )
        metadata_bytes = request.node.metadata.ByteSize()
        if metadata_bytes > MAX_NODE_METADATA_BYTES:
            # The metadata becomes part of the node group's key, held while the group is served.
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the node's metadata is {metadata_bytes} bytes, more than the "
                f"{MAX_NODE_METADATA_BYTES} allowed; give the proxy less node metadata.",
            )
        try:
            group = self.cache.group_of(request.node)
            hash(group)
        except Exception as exc:
            log.exception("cannot place node %s in a group", request.node.id)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"no node group: {exc}")
        if self.admit is not None:
            await self.admit(stream.stream_id, request.node, context)
        stream.node = request.node
        stream.group = group
        self.cache.watch(group, stream.wake)
        log.info(
            "node %s (cluster %s) connected over %s, group %r",
            stream.node_id,
            request.node.cluster,
            stream.mode,
            group,
        )
        self.registry.emit("on_connect", stream.status())


ServerHook = Callable[[grpc.aio.Server], None]


class XdsServer:
    """A started-on-demand ``grpc.aio`` server carrying ADS (and whatever else is added).

    ``services`` lets other gRPC services (Breakwater's own API) share the port;
    ``admit`` is the servicer's identify hook and ``interceptors`` wrap every service.
    ``share_port``: bind with ``SO_REUSEPORT`` and without the check that the port is free,
    for the worker processes of one `serve` (whose parent checked and holds the port). Left
    off, a second server on a used port fails, instead of silently taking half the proxies.
    """

    def __init__(
        self,
        cache: SnapshotSource,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        registry: StreamRegistry | None = None,
        options: XdsServerOptions | None = None,
        services: Sequence[ServerHook] = (),
        credentials: grpc.ServerCredentials | None = None,
        admit: Admission | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),  # type: ignore[type-arg]
        share_port: bool = False,
    ) -> None:
        self.cache = cache
        self.share_port = share_port
        self.interceptors = tuple(interceptors)
        self.credentials = credentials
        self.host = host
        self.requested_port = port
        self.options = options or XdsServerOptions()
        self.servicer = AdsServicer(
            cache, registry, ordering_timeout=self.options.ordering_timeout, admit=admit
        )
        self._services = tuple(services)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def registry(self) -> StreamRegistry:
        return self.servicer.registry

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def server(self) -> grpc.aio.Server:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with ``port=0``)."""
        if self._server is not None:
            return self.port
        options = self.options.grpc_options()
        if self.share_port:
            options = [o for o in options if o[0] != "grpc.so_reuseport"]
            options.append(("grpc.so_reuseport", 1))
        server = grpc.aio.server(options=options, interceptors=self.interceptors or None)
        self.servicer.add_to_server(server)
        for hook in self._services:
            hook(server)
        host = f"[{self.host}]" if ":" in self.host else self.host
        # A restarted server keeps the port it had, so proxies find it again.
        wanted = self.requested_port or self.port
        address = f"{host}:{wanted}"
        if not self.share_port and in_use(self.host, wanted):
            raise CannotListen("xDS", self.host, wanted, "--xds-address")
        try:
            if self.credentials is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, self.credentials)
        except RuntimeError:  # gRPC's word for any failed bind
            port = 0
        if port == 0:
            raise CannotListen("xDS", self.host, wanted, "--xds-address")
        await server.start()
        self._server = server
        self.port = port
        log.info("xDS server listening on %s", self.address)
        return port

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving; open streams are cancelled after ``grace`` seconds.

        ``start()`` may be called again and binds the same port.
        """
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()

    async def __aenter__(self) -> XdsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop(0)


__all__ = [
    "DELTA_METHOD",
    "SERVICE_NAME",
    "SOTW_METHOD",
    "Admission",
    "AdsServicer",
    "ServerHook",
    "XdsServer",
]
