"""`serve --workers 2` against real gRPC clients: the parent's status and metrics hold every
worker's streams, a NACK on a worker shows in them, the gRPC API and fleet reports reach the
parent through any worker, a second `serve` on the port is refused, and a worker killed with
`kill -9` has its streams ended in the status and is replaced."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from breakwater.client import http
from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.prometheus import metric_sum, metrics_text
from breakwater.devtools.serve import ServeError, ServeProcess
from breakwater.devtools.waiting import wait_until
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from breakwater.xds_types import CLUSTER_TYPE
from tests.fleet.otlp import export
from tests.support.ads import AdsClient
from tests.support.policies import DELTA_NODE_CLUSTER, NODE_CLUSTER, STABLE, PolicyDir
from tests.support.reports import export as send_export
from tests.support.workers import clients_of, worker_pids

PROXIES = 16
DELTA_PROXIES = 4
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    workdir = tmp_path_factory.mktemp("workers")
    policies = PolicyDir.create(workdir / "policies")
    process = ServeProcess(
        policies.path, workdir / "state", workdir / "serve.log", extra_args=["--workers", "2"]
    )
    with process:
        yield process


def _own_connection(port: int) -> grpc.aio.Channel:
    """A channel with a connection of its own (one process's channels share one otherwise),
    so the kernel places each on a worker of its own choosing."""
    return grpc.aio.insecure_channel(
        f"{LOOPBACK}:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )


@asynccontextmanager
async def synced_proxies(
    port: int, prefix: str, count: int, *, delta: bool = False
) -> AsyncIterator[list[AdsClient]]:
    """`count` proxies (SotW, or Delta in the Delta gateway's node cluster), each on its own
    connection, that asked for and ACKed CDS."""
    cluster = DELTA_NODE_CLUSTER if delta else NODE_CLUSTER
    async with AsyncExitStack() as stack:
        clients = []
        for n in range(count):
            channel = _own_connection(port)
            stack.push_async_callback(channel.close, None)
            client = AdsClient(channel, f"{prefix}-{n}", cluster, delta=delta)
            clients.append(await stack.enter_async_context(client))
        for client in clients:
            if delta:
                await client.delta_request(CLUSTER_TYPE)
            else:
                await client.request(CLUSTER_TYPE)
        for client in clients:
            response = await client.recv(TIMEOUT)
            await (client.delta_ack(response) if delta else client.ack(response))
        yield clients


def _status(serve: ServeProcess) -> list[dict[str, Any]]:
    proxies: list[dict[str, Any]] = http("GET", f"{serve.admin_url}/v1/status").body["proxies"]
    return proxies


def _port_of(peer: str) -> int:
    return int(peer.rsplit(":", 1)[1])


async def _wait(condition: Any, what: str, timeout: float = TIMEOUT) -> None:
    await asyncio.to_thread(wait_until, condition, timeout, what)


def test_status_lists_the_proxies_of_every_worker(serve: ServeProcess) -> None:
    async def run() -> None:
        async with (
            synced_proxies(serve.xds_port, "spread", PROXIES),
            synced_proxies(serve.xds_port, "spread-delta", DELTA_PROXIES, delta=True),
        ):

            def all_synced() -> bool:
                synced = {p["node_id"] for p in _status(serve) if p["synced"]}
                return synced >= {f"spread-{n}" for n in range(PROXIES)} | {
                    f"spread-delta-{n}" for n in range(DELTA_PROXIES)
                }

            await _wait(all_synced, "every proxy to be listed as synced")
            listed = [p for p in _status(serve) if p["node_id"].startswith("spread-")]
            assert len(listed) == PROXIES + DELTA_PROXIES
            protocols = {p["node_id"]: p["protocol"] for p in listed}
            assert [protocols[f"spread-delta-{n}"] for n in range(DELTA_PROXIES)] == [
                "delta"
            ] * DELTA_PROXIES
            assert protocols["spread-0"] == "sotw"
            by_worker = {pid: clients_of(pid, serve.xds_port) for pid in worker_pids(serve.pid)}
            assert len(by_worker) == 2
            for pid, clients in by_worker.items():
                served = [p["node_id"] for p in listed if _port_of(p["peer"]) in clients]
                assert served, f"worker {pid} serves none of the listed proxies"
            assert sum(len(c) for c in by_worker.values()) >= PROXIES + DELTA_PROXIES
            metrics = metrics_text(serve.admin_url)
            connected = metric_sum(metrics, "breakwater_connected_proxies")
            assert connected >= PROXIES + DELTA_PROXIES

        await _wait(
            lambda: not any(p["node_id"].startswith("spread-") for p in _status(serve)),
            "the closed streams to leave the status",
        )

    asyncio.run(run())


def test_a_nack_on_a_worker_shows_in_status_and_metrics(serve: ServeProcess) -> None:
    async def run() -> None:
        before = metric_sum(metrics_text(serve.admin_url), "breakwater_xds_nacks_total")
        async with (
            _own_connection(serve.xds_port) as channel,
            AdsClient(channel, "refuser") as client,
        ):
            await client.request(CLUSTER_TYPE)
            response = await client.recv(TIMEOUT)
            await client.nack(response, "cluster payments-stable: no such filter")

            def nacked() -> bool:
                for proxy in _status(serve):
                    if proxy["node_id"] == "refuser":
                        (cds,) = proxy["types"]
                        return bool(
                            cds["state"] == "nacked"
                            and cds["nack_message"] == "cluster payments-stable: no such filter"
                            and cds["nack_version"] == response.version_info
                        )
                return False

            await _wait(nacked, "the NACK to show in the status")
            after = metric_sum(metrics_text(serve.admin_url), "breakwater_xds_nacks_total")
            assert after == before + 1

    asyncio.run(run())


def test_grpc_api_calls_reach_the_parent_through_every_worker(serve: ServeProcess) -> None:
    async def run() -> None:
        async with synced_proxies(serve.xds_port, "api", 4):
            answers = []
            for _ in range(8):
                async with _own_connection(serve.xds_port) as channel:
                    stub: Any = pb_grpc.BreakwaterStub(channel)
                    answers.append(await stub.GetStatus(pb.GetStatusRequest(), timeout=TIMEOUT))
                    weights = await stub.GetWeights(
                        pb.GetWeightsRequest(route="payments"), timeout=TIMEOUT
                    )
                    assert dict(weights.weights) == {"stable": 90, "canary": 10}
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await stub.GetWeights(pb.GetWeightsRequest(route="nope"), timeout=TIMEOUT)
                    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
                    assert "nope" in (refused.value.details() or "")
            for answer in answers:
                assert {p.node_id for p in answer.proxies} >= {f"api-{n}" for n in range(4)}

            # A write through a worker is recorded with the client's address, not the relay's.
            async with _own_connection(serve.xds_port) as channel:
                stub = pb_grpc.BreakwaterStub(channel)
                weights = {"stable": 70, "canary": 30}
                request = pb.SetWeightsRequest(route="payments", weights=weights)
                await stub.SetWeights(request, timeout=TIMEOUT)
                await stub.ResetWeights(pb.ResetWeightsRequest(route="payments"), timeout=TIMEOUT)
            events = http("GET", f"{serve.admin_url}/v1/events?route=payments").body["events"]
            # (a map: the order of the weights is the message's)
            assert set(events[1]["after"].split()) == {"stable=70", "canary=30"}, events[:2]
            assert all(e["who"].startswith("ipv4:127.0.0.1:") for e in events[:2]), events[:2]

    asyncio.run(run())


def test_a_fleet_report_through_a_worker_counts_in_the_parent(serve: ServeProcess) -> None:
    def retries() -> float:
        return metric_sum(
            metrics_text(serve.admin_url), "breakwater_retries_total", subset="stable"
        )

    async def run() -> None:
        async with synced_proxies(serve.xds_port, "reporter", 1):
            before = retries()
            with grpc.insecure_channel(f"{LOOPBACK}:{serve.xds_port}") as channel:
                send_export(
                    channel, export(STABLE, counters={"cluster.upstream_rq_retry": 3}), "reporter-0"
                )
                with pytest.raises(grpc.RpcError) as refused:
                    bogus = {f"9-{n}": 1 for n in range(10)}
                    send_export(channel, export(STABLE, responses=bogus), "reporter-0")
            error: Any = refused.value
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "class" in error.details()
            await _wait(lambda: retries() == before + 3, "the report to count")

    asyncio.run(run())


def test_a_second_serve_on_the_port_is_refused(serve: ServeProcess, tmp_path: Path) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    for workers in ("2", "0"):
        second = ServeProcess(
            policies.path,
            tmp_path / f"state-{workers}",
            tmp_path / f"second-{workers}.log",
            xds_port=serve.xds_port,
            extra_args=["--workers", workers],
        )
        with pytest.raises(ServeError) as refused:
            second.start(timeout=20)
        assert f"cannot listen for xDS on 127.0.0.1:{serve.xds_port}" in str(refused.value)


def test_a_killed_worker_has_its_streams_ended_and_is_replaced(serve: ServeProcess) -> None:
    async def run() -> None:
        async with synced_proxies(serve.xds_port, "held", PROXIES) as clients:
            await _wait(
                lambda: sum(p["node_id"].startswith("held-") for p in _status(serve)) == PROXIES,
                "every proxy to be listed",
            )
            restarts = metric_sum(
                metrics_text(serve.admin_url), "breakwater_xds_worker_restarts_total"
            )
            victim, survivor = worker_pids(serve.pid)
            gone = clients_of(victim, serve.xds_port)
            kept = clients_of(survivor, serve.xds_port)
            assert gone and kept
            os.kill(victim, signal.SIGKILL)

            def only_survivors() -> bool:
                held = [p for p in _status(serve) if p["node_id"].startswith("held-")]
                return {_port_of(p["peer"]) for p in held} <= kept and len(held) == sum(
                    1 for c in clients if not c.call.done()
                )

            await _wait(only_survivors, "the killed worker's streams to leave the status")
            await _wait(
                lambda: len(worker_pids(serve.pid)) == 2 and victim not in worker_pids(serve.pid),
                "the worker to be replaced",
                30,
            )
            metrics = metrics_text(serve.admin_url)
            assert metric_sum(metrics, "breakwater_xds_worker_restarts_total") == restarts + 1
            await _wait(
                lambda: metric_sum(metrics_text(serve.admin_url), "breakwater_xds_workers") == 2,
                "the replacement to listen",
            )
        # The replacement was fed every group before it listened: a new proxy is answered at
        # once, whichever worker takes it.
        async with synced_proxies(serve.xds_port, "after", 8):
            pass

    asyncio.run(run())
