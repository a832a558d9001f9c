"""What `serve --workers N` would rest on: N processes serving ADS on one port, one killed.

Each worker process runs the real ``AdsServicer`` over ``grpc.aio`` with
``grpc.so_reuseport`` set (Breakwater's own server sets it to 0, so that a second
server on the port is refused) and a one-cluster snapshot. The driver opens
``--streams`` SotW streams, one HTTP/2 connection each (a local subchannel pool:
one process's channels to one address would otherwise share a connection, and
so a worker), and reports how the kernel spread them, then kills one worker with
SIGKILL and measures, for each stream it held, the time from the stream's end to
the first response on its new stream (reopened on a fresh channel at once: the
figure is the server side's, not a client's reconnect backoff), and where the
streams are afterwards. A replacement worker then binds the same port.

Run: ``python -m bench.reuseport --workers 2 --streams 200`` (prints JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from bench.workers import WorkerPool
from breakwater.controlplane.xds.cache import SnapshotCache
from breakwater.controlplane.xds.options import XdsServerOptions
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.controlplane.xds.server import SERVICE_NAME, SOTW_METHOD, AdsServicer
from breakwater.devtools.ports import free_port
from breakwater.xds_types import CLUSTER_TYPE

METHOD = f"/{SERVICE_NAME}/{SOTW_METHOD}"


async def serve(port: int) -> None:
    """One worker: ADS on 127.0.0.1:port sharing the port; answers `streams` on stdin."""
    cache = SnapshotCache()
    cluster = cluster_pb2.Cluster(name="backend", type=cluster_pb2.Cluster.STATIC)
    cache.set_snapshot("edge", Snapshot.from_messages({CLUSTER_TYPE: [cluster]}))
    servicer = AdsServicer(cache)
    options = [(k, v) for k, v in XdsServerOptions().grpc_options() if k != "grpc.so_reuseport"]
    server = grpc.aio.server(options=[*options, ("grpc.so_reuseport", 1)])
    servicer.add_to_server(server)
    loop = asyncio.get_running_loop()
    bound = False
    # Bound on the first command, not at start: the driver starts the replacement worker
    # before its thousands of channels exist (their descriptors are past `select`'s range).
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)[0]
        if not bound:
            if server.add_insecure_port(f"127.0.0.1:{port}") != port:
                raise SystemExit(f"cannot bind 127.0.0.1:{port}")
            await server.start()
            bound = True
        print(json.dumps({"pid": os.getpid(), "streams": len(servicer.registry)}), flush=True)
        if command == "stop":
            break
    await server.stop(0)


class Client:
    """One SotW stream that reopens on a fresh channel whenever its stream ends."""

    def __init__(self, address: str, index: int) -> None:
        self.address = address
        self.node = base_pb2.Node(id=f"proxy-{index}", cluster="edge")
        self.ended: float | None = None
        self.reconnects: list[float] = []
        self.first = asyncio.Event()
        self.closing = False

    async def run(self) -> None:
        while not self.closing:
            channel = grpc.aio.insecure_channel(
                self.address, options=[("grpc.use_local_subchannel_pool", 1)]
            )
            try:
                await self._stream(channel)
            except grpc.aio.AioRpcError:
                pass
            finally:
                await channel.close(None)
            if self.ended is None:
                self.ended = time.monotonic()
            await asyncio.sleep(0.01)

    async def _stream(self, channel: grpc.aio.Channel) -> None:
        call: Any = channel.stream_stream(
            METHOD,
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
        )(None, wait_for_ready=True)
        await call.write(discovery_pb2.DiscoveryRequest(node=self.node, type_url=CLUSTER_TYPE))
        async for response in call:
            if self.ended is not None:
                self.reconnects.append(time.monotonic() - self.ended)
                self.ended = None
            self.first.set()
            await call.write(
                discovery_pb2.DiscoveryRequest(
                    type_url=CLUSTER_TYPE,
                    version_info=response.version_info,
                    response_nonce=response.nonce,
                )
            )


def counts(pool: WorkerPool) -> dict[int, int]:
    return {reply["pid"]: reply["streams"] for reply in pool.ask("streams")}


async def drive(workers: int, streams: int) -> dict[str, Any]:
    port = free_port("127.0.0.1")

    def argv(share: int, first: int) -> list[str]:
        return ["-m", "bench.reuseport", "--serve", str(port)]

    pool = WorkerPool("ADS", workers, workers, argv)
    spare = WorkerPool("ADS", 1, 1, argv)
    clients = [Client(f"127.0.0.1:{port}", i) for i in range(streams)]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    result: dict[str, Any] = {"workers": workers, "streams": streams, "cpus": os.cpu_count()}
    try:
        await asyncio.to_thread(pool.ask, "ready")
        await asyncio.wait_for(asyncio.gather(*(c.first.wait() for c in clients)), 120)
        await asyncio.sleep(0.5)
        before = await asyncio.to_thread(counts, pool)
        result["before"] = list(before.values())
        victim = pool.workers.pop(0)
        held = before.get(victim.pid, 0)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        deadline = time.monotonic() + 120
        while sum(len(c.reconnects) for c in clients) < held and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        waits = sorted(w for c in clients for w in c.reconnects)
        result["killed_held"] = held
        result["reconnected"] = len(waits)
        if waits:
            result["reconnect_p50_s"] = waits[len(waits) // 2]
            result["reconnect_max_s"] = waits[-1]
        result["after_kill"] = list((await asyncio.to_thread(counts, pool)).values())
        await asyncio.to_thread(spare.ask, "ready")
        await asyncio.sleep(1.0)
        result["replacement_streams"] = (await asyncio.to_thread(counts, spare)).popitem()[1]
    finally:
        for client in clients:
            client.closing = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(pool.stop)
        await asyncio.to_thread(spare.stop)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve))
        return
    print(json.dumps(asyncio.run(drive(args.workers, args.streams))))


if __name__ == "__main__":
    main()
