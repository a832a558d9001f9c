"""A scripted ADS client: plays the proxy's side of the protocol step by step."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import descriptor_pool, message_factory
from google.rpc import status_pb2

from breakwater.controlplane.xds.resources import resource_name


class AdsClient:
    """One ADS stream; responses are collected by a background task."""

    def __init__(
        self, port: int, node_id: str = "proxy-1", cluster: str = "edge", *, delta: bool = False
    ):
        self.port = port
        self.node = base_pb2.Node(id=node_id, cluster=cluster)
        self.delta = delta
        self.responses: asyncio.Queue[Any] = asyncio.Queue()
        self._first = True

    async def __aenter__(self) -> AdsClient:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self.call = (
            stub.DeltaAggregatedResources() if self.delta else stub.StreamAggregatedResources()
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.call.cancel()
        self._reader.cancel()
        await self.channel.close(grace=None)

    async def _read(self) -> None:
        try:
            async for response in self.call:
                await self.responses.put(response)
        except grpc.aio.AioRpcError as error:
            await self.responses.put(error)

    def _with_node(self, request: Any) -> Any:
        if self._first:
            request.node.CopyFrom(self.node)
            self._first = False
        return request

    async def request(
        self,
        type_url: str,
        names: Iterable[str] = (),
        *,
        nonce: str = "",
        version: str = "",
        error: str | None = None,
    ) -> None:
        request = discovery_pb2.DiscoveryRequest(
            type_url=type_url,
            resource_names=list(names),
            response_nonce=nonce,
            version_info=version,
        )
        if error is not None:
            request.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        await self.call.write(self._with_node(request))

    async def ack(self, response: Any, names: Iterable[str] = ()) -> None:
        await self.request(
            response.type_url, names, nonce=response.nonce, version=response.version_info
        )

    async def nack(
        self, response: Any, message: str, names: Iterable[str] = (), version: str = ""
    ) -> None:
        await self.request(
            response.type_url, names, nonce=response.nonce, version=version, error=message
        )

    async def delta_request(
        self,
        type_url: str,
        subscribe: Iterable[str] = (),
        unsubscribe: Iterable[str] = (),
        *,
        nonce: str = "",
        initial: Mapping[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        request = discovery_pb2.DeltaDiscoveryRequest(
            type_url=type_url,
            resource_names_subscribe=list(subscribe),
            resource_names_unsubscribe=list(unsubscribe),
            response_nonce=nonce,
            initial_resource_versions=dict(initial or {}),
        )
        if error is not None:
            request.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
        await self.call.write(self._with_node(request))

    async def delta_ack(self, response: Any) -> None:
        await self.delta_request(response.type_url, nonce=response.nonce)

    async def recv(self, timeout: float = 2.0) -> Any:
        """The next response; raises the stream's error if it ended with one."""
        response = await asyncio.wait_for(self.responses.get(), timeout)
        if isinstance(response, grpc.aio.AioRpcError):
            raise response
        return response

    async def silence(self, timeout: float = 0.15) -> None:
        """Assert that nothing arrives for a while."""
        try:
            response = await asyncio.wait_for(self.responses.get(), timeout)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected response: {response.type_url} {response}")


def unpack(packed: Any) -> Any:
    """The message inside an ``Any``, whatever its type."""
    descriptor = descriptor_pool.Default().FindMessageTypeByName(packed.type_url.split("/", 1)[1])
    message = message_factory.GetMessageClass(descriptor)()
    packed.Unpack(message)
    return message


def names_of(response: Any) -> set[str]:
    """Resource names in a SotW or Delta response."""
    if isinstance(response, discovery_pb2.DeltaDiscoveryResponse):
        return {r.name for r in response.resources}
    return {resource_name(unpack(packed)) for packed in response.resources}
