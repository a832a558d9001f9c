"""An ADS client that plays a proxy's side of the protocol, one message at a time.

Tests of the xDS server script every request (subscribe like Envoy, read the
answer, ACK or NACK it) and check every response; tests of the API only need a
connected node so that the control plane builds and serves its snapshot. Both use
`AdsClient` (in a coroutine) or `BlockingAdsClient` (from a plain test function).
Hostile clients that must break the protocol build their messages with
`discovery_request` and write them on raw calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any, Self, TypeVar

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import descriptor_pool, message_factory
from google.rpc import status_pb2

from breakwater.devtools.ports import LOOPBACK
from breakwater.xds_types import resource_name
from tests.support.policies import NODE_CLUSTER

T = TypeVar("T")

INVALID_ARGUMENT = 3
"""The google.rpc code a NACK carries in `error_detail`, as Envoy sends it."""


def proxy_node(node_id: str, cluster: str = NODE_CLUSTER) -> Any:
    """The node a proxy names in its first request; its cluster picks its node group."""
    return base_pb2.Node(id=node_id, cluster=cluster)


def discovery_request(
    type_url: str,
    names: Iterable[str] = (),
    *,
    node: Any = None,
    nonce: str = "",
    version: str = "",
    error: str | None = None,
) -> Any:
    """A State-of-the-World request: a subscription, an ACK (`nonce` and `version`) or a
    NACK (`error`, with the version still in use)."""
    request = discovery_pb2.DiscoveryRequest(
        type_url=type_url, resource_names=list(names), response_nonce=nonce, version_info=version
    )
    if node is not None:
        request.node.CopyFrom(node)
    if error is not None:
        request.error_detail.CopyFrom(status_pb2.Status(code=INVALID_ARGUMENT, message=error))
    return request


def delta_discovery_request(
    type_url: str,
    subscribe: Iterable[str] = (),
    unsubscribe: Iterable[str] = (),
    *,
    node: Any = None,
    nonce: str = "",
    initial: Mapping[str, str] | None = None,
    error: str | None = None,
) -> Any:
    """A Delta request: names to (un)subscribe, the versions a reconnecting proxy holds."""
    request = discovery_pb2.DeltaDiscoveryRequest(
        type_url=type_url,
        resource_names_subscribe=list(subscribe),
        resource_names_unsubscribe=list(unsubscribe),
        response_nonce=nonce,
        initial_resource_versions=dict(initial or {}),
    )
    if node is not None:
        request.node.CopyFrom(node)
    if error is not None:
        request.error_detail.CopyFrom(status_pb2.Status(code=INVALID_ARGUMENT, message=error))
    return request


class AdsClient:
    """One ADS stream; responses are collected by a background task, so each read has a
    deadline and a test can assert that nothing came.

    `target` is a port on loopback (the client opens its own channel and closes it) or
    a channel the test holds, to put several streams on one HTTP/2 connection. The node
    goes with the first request, as Envoy sends it; `node` may be changed before that.
    `metadata` goes with the call (a proxy token).
    """

    def __init__(
        self,
        target: int | grpc.aio.Channel,
        node_id: str = "proxy-1",
        cluster: str = NODE_CLUSTER,
        *,
        delta: bool = False,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.target = target
        self.node = proxy_node(node_id, cluster)
        self.delta = delta
        self.metadata = tuple(metadata)
        self.responses: asyncio.Queue[Any] = asyncio.Queue()
        self._first = True

    async def __aenter__(self) -> Self:
        if isinstance(self.target, int):
            self.channel = grpc.aio.insecure_channel(f"{LOOPBACK}:{self.target}")
        else:
            self.channel = self.target
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self.call = (
            stub.DeltaAggregatedResources(metadata=self.metadata)
            if self.delta
            else stub.StreamAggregatedResources(metadata=self.metadata)
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()
        if isinstance(self.target, int):
            await self.channel.close(grace=None)

    def cancel(self) -> None:
        """End the stream as a proxy that goes away does (again: nothing happens)."""
        self.call.cancel()
        self._reader.cancel()

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
        message = discovery_request(type_url, names, nonce=nonce, version=version, error=error)
        await self.call.write(self._with_node(message))

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
        message = delta_discovery_request(
            type_url, subscribe, unsubscribe, nonce=nonce, initial=initial, error=error
        )
        await self.call.write(self._with_node(message))

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


class BlockingAdsClient:
    """An `AdsClient` (State of the World) on an event loop thread of its own, for tests
    that are plain functions while the control plane serves from another thread."""

    def __init__(
        self,
        port: int,
        node_id: str = "proxy-1",
        cluster: str = NODE_CLUSTER,
        *,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ads-client", daemon=True
        )
        self._thread.start()
        self.client = AdsClient(port, node_id, cluster, metadata=metadata)
        self._run(self.client.__aenter__())

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def request(
        self, type_url: str, names: Iterable[str] = (), *, nonce: str = "", version: str = ""
    ) -> None:
        self._run(self.client.request(type_url, names, nonce=nonce, version=version))

    def ack(self, response: Any, names: Iterable[str] = ()) -> None:
        self._run(self.client.ack(response, names))

    def nack(self, response: Any, message: str, names: Iterable[str] = ()) -> None:
        self._run(self.client.nack(response, message, names))

    def recv(self, timeout: float = 2.0) -> Any:
        return self._run(self.client.recv(timeout))

    def pending(self) -> int:
        """Responses received and not read yet."""
        return self.client.responses.qsize()

    def close(self) -> None:
        self._run(self.client.__aexit__())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def route_weights(response: Any) -> dict[str, int]:
    """Cluster → weight of every weighted route in a RouteConfiguration response."""
    weights: dict[str, int] = {}
    for resource in response.resources:
        config = route_pb2.RouteConfiguration()
        resource.Unpack(config)
        for host in config.virtual_hosts:
            for route in host.routes:
                for cluster in route.route.weighted_clusters.clusters:
                    weights[cluster.name] = cluster.weight.value
    return weights
