"""Hostile xDS clients against a running control plane, with a real Envoy connected meanwhile.

ADS clients send what no Envoy would: type URLs nobody serves, absurd
resource name lists, garbage nonces and versions. Raw gRPC calls go where a
client would not: requests whose answers are never read, thousands of streams
that connect and vanish. The server must neither crash nor keep state for
streams that are gone, its memory must come back close to where it was, and
the real Envoy must stay synced and take a later change as if nothing happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc

from breakwater.client import http
from breakwater.controlplane.xds.resources import CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE
from breakwater.controlplane.xds.status import StreamRegistry
from breakwater.controlplane.xds.stream import INBOX_LIMIT, Stream
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.memory import rss_bytes, settled_rss_bytes
from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until
from tests.hardening.policies import hardening_policies
from tests.support.admin import proxy_synced, put_weights
from tests.support.ads import (
    AdsClient,
    delta_discovery_request,
    discovery_request,
    proxy_node,
)
from tests.support.envoy import envoy_for, envoy_route_weights
from tests.support.policies import CANARY, STABLE

BYSTANDER = "bystander"
READ_TIMEOUT = 5.0
"""Seconds an answer may take."""
KIB, MIB = 1024, 1024 * 1024
EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # not in the type stubs
UNKNOWN_TYPE = "type.googleapis.com/no.such.Type"


class Plane:
    """The control plane in this process (so its registry can be inspected) and a real Envoy."""

    def __init__(self, plane: ControlPlaneThread, envoy: EnvoyProcess) -> None:
        self.thread = plane
        self.envoy = envoy
        self._weights = iter(range(1, 99))

    @property
    def port(self) -> int:
        return self.thread.xds_port

    @property
    def admin_url(self) -> str:
        return self.thread.admin_url

    @property
    def registry(self) -> StreamRegistry:
        assert self.thread.plane is not None
        return self.thread.plane.streams

    def streams_left(self) -> int:
        """Streams the server still holds, identified or not (the Envoy's is one)."""
        return len(self.registry)

    def live_stream_objects(self) -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, Stream))

    def watchers(self) -> int:
        assert self.thread.plane is not None
        cache = self.thread.plane.cache
        return sum(cache.watcher_count(group) for group in cache.groups())

    def assert_bystander_unaffected(self) -> None:
        """The real Envoy is synced, and a weight change made now reaches it."""
        wait_until(lambda: proxy_synced(self.admin_url, BYSTANDER), 5, "the Envoy synced")
        stable = next(self._weights)
        reply = put_weights(self.admin_url, {"stable": stable, "canary": 100 - stable})
        assert reply.status == 200, reply.text
        wanted = {STABLE: stable, CANARY: 100 - stable}
        wait_until(lambda: envoy_route_weights(self.envoy) == wanted, 5, f"Envoy at {wanted}")
        wait_until(lambda: proxy_synced(self.admin_url, BYSTANDER), 5, "the Envoy synced again")

    def assert_back_to_baseline(self) -> None:
        wait_until(lambda: self.streams_left() == 1, 5, "only the Envoy's stream left")
        assert self.watchers() == 1
        # grpc keeps the state of the last RPC that ended with an error (and through its
        # traceback that stream) until the next RPC ends; nothing accumulates.
        assert self.live_stream_objects() <= 2


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    workdir = tmp_path_factory.mktemp("xds-hostile")
    policies = hardening_policies(workdir / "policies", stable_port=1, canary_port=2)
    with ControlPlaneThread(policies.path, workdir / "state") as thread:
        envoy = envoy_for(thread.xds_port, BYSTANDER, workdir / "envoy")
        with envoy:
            running = Plane(thread, envoy)
            running.assert_bystander_unaffected()
            yield running


# --- clients -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def channel(port: int, **options: int) -> AsyncIterator[grpc.aio.Channel]:
    """One HTTP/2 connection for ADS clients and raw calls, sending requests of up to 64 MiB."""
    opts = [("grpc.max_send_message_length", 64 << 20), *options.items()]
    async with grpc.aio.insecure_channel(f"{LOOPBACK}:{port}", options=opts) as chan:
        yield chan


# Raw calls, for what an ADS client does not do: write without reading, leave halfway.


def sotw(chan: grpc.aio.Channel) -> Any:
    return ads_pb2_grpc.AggregatedDiscoveryServiceStub(chan).StreamAggregatedResources()


def delta(chan: grpc.aio.Channel) -> Any:
    return ads_pb2_grpc.AggregatedDiscoveryServiceStub(chan).DeltaAggregatedResources()


async def read(call: Any, timeout: float = READ_TIMEOUT) -> Any:
    return await asyncio.wait_for(call.read(), timeout)


async def ends_with(call: Any, timeout: float = 5.0) -> grpc.StatusCode:
    """Read until the server ends the stream; its status code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = await asyncio.wait_for(call.read(), deadline - time.monotonic())
        except grpc.aio.AioRpcError:
            break  # a failed write reports INTERNAL here; the call's code is the server's
        if response is EOF:
            break
    else:
        raise AssertionError(f"the stream did not end within {timeout} s")
    code: grpc.StatusCode = await asyncio.wait_for(call.code(), timeout)
    return code


SCENARIO_TIMEOUT = 90.0


def run(coroutine: Any) -> Any:
    """Run a scenario; one that hangs fails the test instead of the suite."""
    return asyncio.run(asyncio.wait_for(coroutine, SCENARIO_TIMEOUT))


# --- the tests -----------------------------------------------------------------------------


def test_an_unknown_type_url_is_answered_empty_and_the_stream_goes_on(plane: Plane) -> None:
    async def scenario() -> None:
        async with channel(plane.port) as chan, AdsClient(chan, "hostile-unknown") as client:
            await client.request(UNKNOWN_TYPE)
            answer = await client.recv(READ_TIMEOUT)
            assert (answer.type_url, len(answer.resources)) == (UNKNOWN_TYPE, 0)
            await client.request("not even a URL \x00\U0001f600")
            assert len((await client.recv(READ_TIMEOUT)).resources) == 0
            await client.request(CLUSTER_TYPE)
            clusters = await client.recv(READ_TIMEOUT)
            assert clusters.type_url == CLUSTER_TYPE and len(clusters.resources) == 2

    run(scenario())
    plane.assert_back_to_baseline()
    plane.assert_bystander_unaffected()


def test_thousands_of_type_urls_on_one_stream_end_that_stream_quickly(plane: Plane) -> None:
    """Before the limit, 10 000 type URLs kept the event loop busy for 240 s: every request
    re-checked every type the stream had seen, and every other proxy waited."""

    requests = [discovery_request(f"{UNKNOWN_TYPE}0", node=proxy_node("hostile-types"))]
    requests += [discovery_request(f"{UNKNOWN_TYPE}{i}") for i in range(1, 10_000)]
    started = time.monotonic()
    with grpc.insecure_channel(f"{LOOPBACK}:{plane.port}") as chan:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(chan)
        answers = stub.StreamAggregatedResources(iter(requests), timeout=20)
        with pytest.raises(grpc.RpcError) as ended:
            for _ in answers:
                pass
    error: Any = ended.value  # a grpc.Call as well as an RpcError
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most 64 resource types" in error.details()
    assert time.monotonic() - started < 10
    plane.assert_back_to_baseline()
    plane.assert_bystander_unaffected()


def test_a_hundred_thousand_resource_names_are_answered(plane: Plane) -> None:
    names = [f"no-such-cluster-{i:06d}" for i in range(100_000)]

    async def scenario() -> None:
        async with channel(plane.port) as chan:
            async with AdsClient(chan, "hostile-names") as client:
                await client.request(ENDPOINT_TYPE, names)
                answer = await client.recv(READ_TIMEOUT)
                assert (answer.type_url, len(answer.resources)) == (ENDPOINT_TYPE, 0)
                # Status lists every subscribed name of every stream; it must still answer.
                started = time.monotonic()
                assert http("GET", f"{plane.admin_url}/v1/status").status == 200
                assert http("GET", f"{plane.admin_url}/metrics").status == 200
                assert time.monotonic() - started < 5

            async with AdsClient(chan, "hostile-names-delta", delta=True) as incremental:
                await incremental.delta_request(ENDPOINT_TYPE, names)
                answer = await incremental.recv(READ_TIMEOUT)
                assert len(answer.removed_resources) == len(names)  # none of them exists

    run(scenario())
    plane.assert_back_to_baseline()
    plane.assert_bystander_unaffected()


def test_garbage_nonces_versions_and_nacks_change_nothing(plane: Plane) -> None:
    async def scenario() -> None:
        async with channel(plane.port) as chan, AdsClient(chan, "hostile-nonces") as client:
            await client.request(CLUSTER_TYPE)
            first = await client.recv(READ_TIMEOUT)
            await client.request(CLUSTER_TYPE, nonce="no-such-nonce", version="v" * 10_000)
            await client.request(CLUSTER_TYPE, nonce="\x00\xff", version="\x00")
            await client.request(CLUSTER_TYPE, nonce="99999999999999999999", error="made up")
            await client.request(
                CLUSTER_TYPE, nonce="-1", version=first.version_info, error="x" * 100_000
            )
            await client.request(ROUTE_TYPE, ["edge"], nonce="12", version="never sent")
            # The route request had no answer yet, so it counts as the first one: answered.
            routes = await client.recv(READ_TIMEOUT)
            assert routes.type_url == ROUTE_TYPE
            await asyncio.sleep(0.2)
            (stream,) = plane.registry.by_node("hostile-nonces")
            cds = stream.types[CLUSTER_TYPE]
            assert (cds.sent_nonce, cds.nacks, cds.acked_version) == (first.nonce, 0, "")
            # A real ACK of the real nonce still works after all that.
            await client.ack(first)
            wait = time.monotonic() + 5
            while plane.registry.by_node("hostile-nonces")[0].types[CLUSTER_TYPE].state != "synced":
                assert time.monotonic() < wait, "the ACK was not recorded"
                await asyncio.sleep(0.02)

    run(scenario())
    plane.assert_back_to_baseline()
    plane.assert_bystander_unaffected()


def test_a_stream_that_never_reads_is_held_back_and_costs_bounded_memory(plane: Plane) -> None:
    """Before: requests piled up in the stream's inbox without bound while the server waited
    to write to a client that did not read (49 000 queued requests, +70 MB in 20 s)."""
    before = rss_bytes()
    blocked_after = 0

    async def scenario() -> None:
        nonlocal blocked_after
        # Without BDP probing the client's receive window stays at 64 KiB, so the server's
        # answers fill it soon (with it, grpc grows the window to many megabytes first).
        async with channel(plane.port, **{"grpc.http2.bdp_probe": 0}) as chan:
            call = sotw(chan)
            await call.write(discovery_request(CLUSTER_TYPE, node=proxy_node("hostile-deaf")))
            # Every request without a nonce asks for a fresh answer, which is never read.
            ask = discovery_request(CLUSTER_TYPE, ["x" * 200])
            deadline = time.monotonic() + 20
            # A write that waits is left waiting, not cancelled: cancelling it would cancel
            # the whole call, and the server would rightly forget the stream.
            pending: asyncio.Future[None] | None = None
            while time.monotonic() < deadline:
                pending = asyncio.ensure_future(call.write(ask))
                done, _ = await asyncio.wait({pending}, timeout=1.0)
                if not done:
                    break  # held back: the server stopped reading, flow control did the rest
                pending.result()
                blocked_after += 1
            else:
                raise AssertionError(f"{blocked_after} requests in 20 s and never held back")
            (stream,) = [
                s
                for s in plane.registry._streams.values()
                if isinstance(s, Stream) and s.node_id == "hostile-deaf"
            ]
            assert len(stream.inbox) <= INBOX_LIMIT
            # Meanwhile every other proxy is served as usual.
            await asyncio.to_thread(plane.assert_bystander_unaffected)
            call.cancel()
            if pending is not None:
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await pending

    run(scenario())
    print(f"a client that never reads was held back after {blocked_after} requests")
    after = rss_bytes()
    assert after - before < 60 * MIB, f"RSS grew from {before // KIB} KiB to {after // KIB} KiB"
    plane.assert_back_to_baseline()


def test_thousands_of_connects_and_disconnects_leave_nothing_behind(plane: Plane) -> None:
    channels, per_channel = 20, 100  # 2 000 streams, 100 at a time on each of 20 connections

    async def one(chan: grpc.aio.Channel, index: int) -> None:
        call = sotw(chan) if index % 2 else delta(chan)
        if index % 2:
            await call.write(discovery_request(CLUSTER_TYPE, node=proxy_node(f"churn-{index}")))
        else:
            await call.write(
                delta_discovery_request(CLUSTER_TYPE, node=proxy_node(f"churn-{index}"))
            )
        if index % 3 == 0:
            await read(call)  # some read an answer, the others leave before it comes
        if index % 5 == 0:
            await call.done_writing()
            with contextlib.suppress(grpc.aio.AioRpcError, TimeoutError):
                while await asyncio.wait_for(call.read(), 5) is not EOF:
                    pass
        call.cancel()

    async def churn(rounds: int) -> None:
        for _ in range(rounds):
            async with contextlib.AsyncExitStack() as stack:
                chans = [
                    await stack.enter_async_context(channel(plane.port)) for _ in range(channels)
                ]
                await asyncio.gather(
                    *(
                        one(chan, i * channels + c)
                        for i in range(per_channel)
                        for c, chan in enumerate(chans)
                    )
                )

    def raw_connects(count: int) -> None:
        """TCP connections that speak no HTTP/2 at all, or stop halfway through the preface."""
        for index in range(count):
            with socket.create_connection((LOOPBACK, plane.port), timeout=2) as sock:
                sock.sendall(b"PRI * HTTP/2.0\r\n" if index % 2 else b"\x00garbage\xff" * 10)

    run(churn(1))  # warm-up: the first connections allocate what every later one reuses
    plane.assert_back_to_baseline()
    baseline = settled_rss_bytes()
    started = time.monotonic()
    run(churn(2))
    raw_connects(500)
    elapsed = time.monotonic() - started
    plane.assert_back_to_baseline()
    after = settled_rss_bytes()
    print(
        f"4 000 streams and 500 raw connections in {elapsed:.1f} s;"
        f" RSS {baseline // KIB} -> {after // KIB} KiB"
    )
    assert after - baseline < 40 * MIB, f"RSS grew from {baseline // KIB} KiB to {after // KIB} KiB"
    plane.assert_bystander_unaffected()


# --- limits on `breakwater serve` -------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir = tmp_path_factory.mktemp("xds-limits")
    policies = hardening_policies(workdir / "policies", stable_port=1, canary_port=2)
    server = ServeProcess(
        policies.path,
        workdir / "state",
        workdir / "serve.log",
        extra_args=["--xds-max-message-bytes", "65536", "--xds-max-streams", "2"],
    )
    with server:
        yield server


def test_serve_refuses_a_request_over_max_message_bytes(limited: ServeProcess) -> None:
    names = [f"cluster-{i:05d}" for i in range(10_000)]  # ~150 kB, over the 64 KiB limit

    async def scenario() -> None:
        async with channel(limited.xds_port) as chan:
            big = sotw(chan)
            await big.write(discovery_request(ENDPOINT_TYPE, names, node=proxy_node("oversized")))
            assert await ends_with(big) == grpc.StatusCode.RESOURCE_EXHAUSTED
            async with AdsClient(chan, "modest") as small:
                await small.request(CLUSTER_TYPE)
                assert len((await small.recv(READ_TIMEOUT)).resources) == 2

    run(scenario())
    assert limited.process is not None and limited.process.poll() is None
    assert http("GET", f"{limited.admin_url}/readyz").status == 200


def test_serve_limits_streams_per_connection(limited: ServeProcess) -> None:
    """`--xds-max-streams 2`: a third stream on the same connection waits for a free slot."""

    async def scenario() -> None:
        async with channel(limited.xds_port) as chan, contextlib.AsyncExitStack() as stack:
            # Each stream starts only once the one before it was served: how a client
            # orders the start of streams created together is its own business.
            clients = []
            for index in range(2):
                client = await stack.enter_async_context(AdsClient(chan, f"slot-{index}"))
                clients.append(client)
                await client.request(CLUSTER_TYPE)
                await client.recv(READ_TIMEOUT)
            last = await stack.enter_async_context(AdsClient(chan, "slot-2"))
            third = asyncio.ensure_future(last.request(CLUSTER_TYPE))
            answer = asyncio.ensure_future(last.recv(10))
            await asyncio.sleep(1.0)
            assert not answer.done(), "the third stream was served while two were open"
            clients[0].cancel()
            assert len((await answer).resources) == 2
            await third

    run(scenario())
