"""Simulated Envoy proxies: many ADS streams (State of the World or Delta) from a few processes.

Each simulated proxy subscribes the way Envoy does: its node in every request
(Envoy's default, ``set_node_on_first_message_only: false``; java-control-plane
places a request by the node it carries), CDS and LDS as wildcards first, then EDS for the EDS clusters it was given and RDS for the route
configuration names its listeners point at. It ACKs every response (SotW:
``version_info`` and ``response_nonce`` echoed; Delta: the nonce) and
records when each RDS version arrived, which is what a weight change moves.

Streams share a handful of gRPC channels (``streams_per_channel``), each its
own TCP connection. A fleet is split over several worker processes so that
the clients do not share one core; the parent talks to the workers over
pipes (:class:`FleetProcesses`).

Every wait is bounded: a fleet that does not reach a state in time reports
how far it got instead of blocking.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import grpc
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import discovery_pb2

from bench.workers import WorkerPool
from breakwater.defaults import HOST, XDS_PORT

Mode = Literal["sotw", "delta"]

PREFIX = "type.googleapis.com/"
CDS = PREFIX + "envoy.config.cluster.v3.Cluster"
EDS = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS = PREFIX + "envoy.config.listener.v3.Listener"
RDS = PREFIX + "envoy.config.route.v3.RouteConfiguration"
HCM = PREFIX + hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name
ALL_TYPES = (CDS, EDS, LDS, RDS)

SOTW_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
DELTA_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
USER_AGENT = "envoy"
MAX_MESSAGE = 64 * 1024 * 1024
EOF: Any = getattr(grpc.aio, "EOF")  # noqa: B009 (missing from the type stubs)


class AdsServer(Protocol):
    """What a benchmark needs of any ADS server it drives: Breakwater or a peer."""

    @property
    def xds_address(self) -> str:
        """HOST:PORT of its ADS port."""

    @property
    def pid(self) -> int: ...

    def cpu_seconds(self) -> float: ...

    def rss_bytes(self) -> int: ...


ChangeHook = Callable[[int], None]
"""Makes a server publish the scenario's change number ``i`` (for Breakwater an API weight
write, for a peer its publish hook): each server gets the same change its own way."""


@dataclass(frozen=True)
class FleetConfig:
    target: str
    streams: int
    mode: Mode = "sotw"
    node_cluster: str = "edge"
    node_prefix: str = "sim"
    streams_per_channel: int = 100
    connect_concurrency: int = 500
    """Streams opening at the same time (a new one starts when one is synced)."""


@contextlib.asynccontextmanager
async def sotw_stream(target: str, node_id: str, node_cluster: str) -> AsyncIterator[Any]:
    """One SotW ADS stream to `target` from a node that says it is Envoy, its CDS request sent:
    the one-probe benchmarks' proxy (`bench.edit`, `bench.kubernetes`, `bench.registration`)."""
    options = [("grpc.max_receive_message_length", MAX_MESSAGE)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        method: Any = channel.stream_stream(
            SOTW_METHOD,
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
        )
        call = method()
        node = base_pb2.Node(id=node_id, cluster=node_cluster, user_agent_name="envoy")
        await call.write(discovery_pb2.DiscoveryRequest(node=node, type_url=CDS))
        yield call


def eds_names(resources: Sequence[bytes]) -> frozenset[str]:
    """EDS names of the clusters received, as Envoy subscribes to them."""
    names: set[str] = set()
    for raw in resources:
        cluster = cluster_pb2.Cluster.FromString(raw)
        if cluster.WhichOneof("cluster_discovery_type") == "type" and cluster.type == cluster.EDS:
            names.add(cluster.eds_cluster_config.service_name or cluster.name)
    return frozenset(names)


def rds_names(resources: Sequence[bytes]) -> frozenset[str]:
    """Route configuration names the listeners' HTTP connection managers ask RDS for."""
    names: set[str] = set()
    for raw in resources:
        listener = listener_pb2.Listener.FromString(raw)
        chains = list(listener.filter_chains)
        if listener.HasField("default_filter_chain"):
            chains.append(listener.default_filter_chain)
        for chain in chains:
            for network_filter in chain.filters:
                if network_filter.typed_config.type_url == HCM:
                    hcm = hcm_pb2.HttpConnectionManager.FromString(
                        network_filter.typed_config.value
                    )
                    if hcm.HasField("rds"):
                        names.add(hcm.rds.route_config_name)
    return frozenset(names)


class SimProxy:
    """One simulated Envoy on one ADS stream."""

    __slots__ = (
        "acked",
        "call",
        "closed",
        "error",
        "fleet",
        "node",
        "node_id",
        "nonces",
        "rds_at",
        "rds_version",
        "subscribed",
        "synced",
    )

    def __init__(self, fleet: Fleet, node_id: str) -> None:
        self.fleet = fleet
        self.node_id = node_id
        self.node = base_pb2.Node(
            id=node_id, cluster=fleet.config.node_cluster, user_agent_name=USER_AGENT
        )
        self.acked: dict[str, str] = {}
        self.nonces: dict[str, str] = {}
        self.subscribed: dict[str, frozenset[str]] = {}
        self.rds_version = ""
        self.rds_at = 0.0
        self.synced = asyncio.Event()
        self.closed = False
        self.error: str | None = None
        self.call: Any = None

    def _check_synced(self) -> None:
        if not self.synced.is_set() and all(t in self.acked for t in ALL_TYPES):
            self.synced.set()

    # -- State of the World ------------------------------------------------

    async def run_sotw(self, channel: grpc.aio.Channel) -> None:
        method: Any = channel.stream_stream(
            SOTW_METHOD,
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
        )
        call = self.call = method()
        await call.write(discovery_pb2.DiscoveryRequest(node=self.node, type_url=CDS))
        await call.write(discovery_pb2.DiscoveryRequest(node=self.node, type_url=LDS))
        while True:
            response: Any = await call.read()
            if response is EOF:
                return
            type_url = response.type_url
            version = response.version_info
            nonce = response.nonce
            self.nonces[type_url] = nonce
            if type_url == CDS:
                await self._sotw_follow(call, EDS, eds_names([r.value for r in response.resources]))
            elif type_url == LDS:
                await self._sotw_follow(call, RDS, rds_names([r.value for r in response.resources]))
            await call.write(
                discovery_pb2.DiscoveryRequest(
                    node=self.node,
                    type_url=type_url,
                    version_info=version,
                    response_nonce=nonce,
                    resource_names=sorted(self.subscribed.get(type_url, ())),
                )
            )
            self._received(type_url, version)

    async def _sotw_follow(self, call: Any, type_url: str, names: frozenset[str]) -> None:
        """Subscribe to (or change) the names of a dependent type, as Envoy does."""
        if self.subscribed.get(type_url) == names:
            return
        self.subscribed[type_url] = names
        await call.write(
            discovery_pb2.DiscoveryRequest(
                node=self.node,
                type_url=type_url,
                version_info=self.acked.get(type_url, ""),
                response_nonce=self.nonces.get(type_url, ""),
                resource_names=sorted(names),
            )
        )

    # -- Delta ---------------------------------------------------------------

    async def run_delta(self, channel: grpc.aio.Channel) -> None:
        method: Any = channel.stream_stream(
            DELTA_METHOD,
            request_serializer=discovery_pb2.DeltaDiscoveryRequest.SerializeToString,
            response_deserializer=discovery_pb2.DeltaDiscoveryResponse.FromString,
        )
        call = self.call = method()
        held: dict[str, dict[str, bytes]] = {t: {} for t in ALL_TYPES}
        await call.write(discovery_pb2.DeltaDiscoveryRequest(node=self.node, type_url=CDS))
        await call.write(discovery_pb2.DeltaDiscoveryRequest(node=self.node, type_url=LDS))
        while True:
            response: Any = await call.read()
            if response is EOF:
                return
            type_url = response.type_url
            mine = held.setdefault(type_url, {})
            for resource in response.resources:
                mine[resource.name] = resource.resource.value
            for name in response.removed_resources:
                mine.pop(name, None)
            await call.write(
                discovery_pb2.DeltaDiscoveryRequest(
                    node=self.node, type_url=type_url, response_nonce=response.nonce
                )
            )
            if type_url == CDS:
                await self._delta_follow(call, EDS, eds_names(list(mine.values())))
            elif type_url == LDS:
                await self._delta_follow(call, RDS, rds_names(list(mine.values())))
            self._received(type_url, response.system_version_info)

    async def _delta_follow(self, call: Any, type_url: str, names: frozenset[str]) -> None:
        before = self.subscribed.get(type_url, frozenset())
        if before == names:
            return
        self.subscribed[type_url] = names
        await call.write(
            discovery_pb2.DeltaDiscoveryRequest(
                node=self.node,
                type_url=type_url,
                resource_names_subscribe=sorted(names - before),
                resource_names_unsubscribe=sorted(before - names),
            )
        )

    # -- both ------------------------------------------------------------------

    def _received(self, type_url: str, version: str) -> None:
        self.acked[type_url] = version
        if type_url == RDS and version != self.rds_version:
            self.rds_version = version
            self.rds_at = time.monotonic()
        self._check_synced()

    async def run(self, channel: grpc.aio.Channel) -> None:
        try:
            if self.fleet.config.mode == "delta":
                await self.run_delta(channel)
            else:
                await self.run_sotw(channel)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as exc:
            if not self.fleet.closing:
                self.error = f"{exc.code().name}: {exc.details()}"
        except Exception as exc:
            self.error = repr(exc)
        finally:
            self.closed = True
            self.synced.set()  # nobody waits forever on a dead stream


class Fleet:
    """Many simulated proxies in one event loop."""

    def __init__(self, config: FleetConfig, first_index: int = 0) -> None:
        self.config = config
        self.first_index = first_index
        self.proxies: list[SimProxy] = []
        self.channels: list[grpc.aio.Channel] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.baseline: dict[str, str] = {}
        self.closing = False

    def _channel(self, index: int) -> grpc.aio.Channel:
        slot = index // max(1, self.config.streams_per_channel)
        while len(self.channels) <= slot:
            self.channels.append(
                grpc.aio.insecure_channel(
                    self.config.target,
                    options=[
                        ("grpc.use_local_subchannel_pool", 1),
                        ("grpc.max_receive_message_length", MAX_MESSAGE),
                        ("grpc.primary_user_agent", USER_AGENT),
                    ],
                )
            )
        return self.channels[slot]

    async def start(self, timeout: float) -> dict[str, Any]:
        """Open every stream and wait until each holds all four types (or ``timeout``)."""
        started = time.monotonic()
        gate = asyncio.Semaphore(self.config.connect_concurrency)

        async def open_one(index: int) -> None:
            async with gate:
                proxy = SimProxy(self, f"{self.config.node_prefix}-{self.first_index + index}")
                self.proxies.append(proxy)
                self.tasks.append(asyncio.create_task(proxy.run(self._channel(index))))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proxy.synced.wait(), max(0.1, timeout))

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(open_one(i) for i in range(self.config.streams))), timeout
            )
        return self.summary(time.monotonic() - started)

    def summary(self, elapsed: float) -> dict[str, Any]:
        errors = [p.error for p in self.proxies if p.error]
        return {
            "streams": len(self.proxies),
            "synced": sum(1 for p in self.proxies if p.synced.is_set() and not p.closed),
            "closed": sum(1 for p in self.proxies if p.closed),
            "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "elapsed": elapsed,
        }

    def mark(self) -> dict[str, Any]:
        """Remember the RDS version of every synced proxy; `wait_changed` waits for another."""
        self.baseline = {
            p.node_id: p.rds_version for p in self.proxies if p.synced.is_set() and not p.closed
        }
        return {"marked": len(self.baseline)}

    def _changed(self) -> tuple[list[SimProxy], list[SimProxy]]:
        changed: list[SimProxy] = []
        pending: list[SimProxy] = []
        for proxy in self.proxies:
            before = self.baseline.get(proxy.node_id)
            if before is None or proxy.closed:
                continue
            (pending if proxy.rds_version == before else changed).append(proxy)
        return changed, pending

    async def wait_changed(self, timeout: float) -> dict[str, Any]:
        """Arrival times (monotonic) of the first RDS version after `mark`, per marked proxy."""
        deadline = time.monotonic() + timeout
        while True:
            changed, pending = self._changed()
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)
        return {"times": [p.rds_at for p in changed], "missing": len(pending)}

    async def close(self) -> None:
        self.closing = True
        for proxy in self.proxies:
            if proxy.call is not None:
                proxy.call.cancel()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(c.close(None) for c in self.channels), return_exceptions=True)


# -- worker processes ---------------------------------------------------------


async def _worker(config: FleetConfig, first: int) -> None:
    """A worker process: one Fleet, driven by JSON commands on stdin, answers on stdout."""
    fleet = Fleet(config, first)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            await fleet.close()
            return
        command, arg = json.loads(line)
        if command == "start":
            reply: dict[str, Any] = await fleet.start(float(arg))
        elif command == "mark":
            reply = fleet.mark()
        elif command == "wait_changed":
            reply = await fleet.wait_changed(float(arg))
        elif command == "summary":
            reply = fleet.summary(0.0)
        elif command == "stop":
            await fleet.close()
            reply = {"stopped": True}
        else:
            reply = {"error": f"unknown command {command!r}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if command == "stop":
            return


class FleetProcesses(WorkerPool):
    """A fleet split over worker processes; each method waits for every worker."""

    def __init__(self, config: FleetConfig, processes: int) -> None:
        self.config = config

        def argv(share: int, first: int) -> list[str]:
            part = asdict(config) | {"streams": share}
            return ["-m", "bench.loadgen", "--worker", json.dumps(part), "--first", str(first)]

        super().__init__("load generator", config.streams, processes, argv)

    def start(self, timeout: float) -> dict[str, Any]:
        replies = self.ask("start", timeout, timeout + 30)
        return {
            "streams": sum(r["streams"] for r in replies),
            "synced": sum(r["synced"] for r in replies),
            "closed": sum(r["closed"] for r in replies),
            "errors": sum(r["errors"] for r in replies),
            "first_error": next((r["first_error"] for r in replies if r["first_error"]), None),
            "elapsed": max(r["elapsed"] for r in replies),
        }

    def mark(self) -> None:
        self.ask("mark")

    def wait_changed(self, timeout: float) -> tuple[list[float], int]:
        replies = self.ask("wait_changed", timeout, timeout + 30)
        times = [t for r in replies for t in r["times"]]
        return times, sum(r["missing"] for r in replies)

    def __enter__(self) -> FleetProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def default_processes(streams: int) -> int:
    """One worker per thousand streams, at most one per core."""
    return max(1, min(os.cpu_count() or 1, (streams + 999) // 1000))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="connect simulated Envoys to an xDS server, report, and leave"
    )
    parser.add_argument("--target", default=f"{HOST}:{XDS_PORT}")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--mode", choices=["sotw", "delta"], default="sotw")
    parser.add_argument("--node-cluster", default="edge")
    parser.add_argument("--streams-per-channel", type=int, default=100)
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to stay connected")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(_worker(FleetConfig(**json.loads(args.worker)), args.first))
        return
    config = FleetConfig(
        target=args.target,
        streams=args.streams,
        mode=args.mode,
        node_cluster=args.node_cluster,
        streams_per_channel=args.streams_per_channel,
    )
    with FleetProcesses(config, args.processes or default_processes(args.streams)) as fleet:
        result = fleet.start(args.timeout)
        print(json.dumps(result), flush=True)
        time.sleep(min(max(0.0, args.hold), 3600.0))
    sys.exit(0 if result["synced"] == args.streams else 1)


if __name__ == "__main__":
    main()
