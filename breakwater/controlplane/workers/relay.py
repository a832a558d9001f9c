"""The other gRPC services of the xDS port, served by the parent through the workers.

The xDS port also carries Breakwater's gRPC API and the proxies' reports (OTLP `Export`, LRS),
whose state lives in the parent. A worker answers every method but ADS with one generic
handler that passes the call's messages through as bytes (no decoding in the worker) to the
parent's relay server, on a Unix socket in a directory only the server's user may enter, with
the call's metadata and its peer (`x-breakwater-peer`), and passes back the answers, the
status and the trailing metadata. Unary and streaming calls alike travel as a stream of
messages: on the wire they are the same.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc

from breakwater.controlplane.xds.server import SERVICE_NAME, ServerHook

log = logging.getLogger(__name__)

PEER_HEADER = "x-breakwater-peer"
"""The address of the client a relayed call came from, as the worker saw it."""
_ADS_PREFIX = f"/{SERVICE_NAME}/"
_NOT_FORWARDED = ("grpc-", ":")
_NOT_FORWARDED_KEYS = frozenset({"user-agent", "te", "content-type", PEER_HEADER})


def _forwarded(metadata: Sequence[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    return [
        (key, value)
        for key, value in metadata or ()
        if key not in _NOT_FORWARDED_KEYS and not key.startswith(_NOT_FORWARDED)
    ]


class Relay(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """In a worker: every method but ADS, passed to the parent as bytes."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}  # type: ignore[type-arg]

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:  # type: ignore[type-arg]
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if method.startswith(_ADS_PREFIX):
            return None
        handler = self._handlers.get(method)
        if handler is None:

            async def relay(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
                async for reply in self._relay(method, requests, context):
                    yield reply

            handler = grpc.stream_stream_rpc_method_handler(relay)
            if len(self._handlers) < 256:  # method names come from the clients
                self._handlers[method] = handler
        return handler

    async def _relay(
        self, method: str, requests: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[bytes]:
        metadata = _forwarded(context.invocation_metadata())
        metadata.append((PEER_HEADER, str(context.peer())))
        remaining = context.time_remaining()
        call: Any = self._channel.stream_stream(method, None, None)(
            requests, metadata=metadata, timeout=remaining
        )
        try:
            async for reply in call:
                yield reply
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE and not exc.details():
                log.warning("the control plane did not answer a relayed %s call", method)
            received: Any = exc.trailing_metadata() or ()
            trailing = tuple(_forwarded(tuple(received)))
            await context.abort(exc.code(), exc.details() or "", trailing)
        finally:
            call.cancel()


def relay_hook(channel: grpc.aio.Channel) -> ServerHook:
    """For a worker's `XdsServer(services=...)`: the relay beside ADS."""

    def hook(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((Relay(channel),))

    return hook


class _RelayedContext:
    """A relayed call's context, whose `peer()` is the client's, as the worker saw it."""

    def __init__(self, context: Any, peer: str) -> None:
        self._context = context
        self._peer = peer

    def peer(self) -> str:
        return self._peer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _client_peer(context: Any) -> Any:
    for key, value in context.invocation_metadata() or ():
        if key == PEER_HEADER:
            return _RelayedContext(context, str(value))
    return context


class _ClientPeer(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Hands the parent's services the client's address where they ask `context.peer()` (who
    wrote, for the history; an LRS stream without a node), not the worker's Unix socket.

    Only the workers reach the relay socket, and they replace any `x-breakwater-peer` a client
    sent with the address they saw."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler: Any = await continuation(handler_call_details)
        if handler is None:
            return handler
        for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                wrapped: Any = getattr(grpc, f"{kind}_rpc_method_handler")(
                    _with_client_peer(behaviour, kind.endswith("_stream")),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
                return wrapped
        return handler


def _with_client_peer(behaviour: Any, streams: bool) -> Any:
    if streams:

        async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
            async for reply in behaviour(request, _client_peer(context)):
                yield reply

        return streaming

    async def single(request: Any, context: Any) -> Any:
        return await behaviour(request, _client_peer(context))

    return single


def relay_server(
    path: str,
    services: Sequence[ServerHook],
    options: list[tuple[str, int | str]],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),  # type: ignore[type-arg]
) -> tuple[grpc.aio.Server, str]:
    """In the parent: the services the workers relay to, on the Unix socket `path`."""
    server = grpc.aio.server(options=options, interceptors=(_ClientPeer(), *interceptors))
    for hook in services:
        hook(server)
    address = f"unix:{path}"
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen on {address} for the workers' relayed calls")
    return server, address


__all__ = ["PEER_HEADER", "Relay", "relay_hook", "relay_server"]
