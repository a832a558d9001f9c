"""Proxy tokens with `serve --workers 2`: the workers admit ADS streams by token, and the parent
takes a relayed report only with the token that holds the node's stream on some worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.prometheus import metric_sum, metrics_text
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until
from breakwater.xds_types import CLUSTER_TYPE
from tests.fleet.otlp import export
from tests.support.ads import AdsClient
from tests.support.credentials import token_file
from tests.support.policies import NODE_CLUSTER, STABLE, PolicyDir
from tests.support.reports import export as send_export
from tests.support.workers import clients_of, worker_pids

EDGE = "edge-token-0123456789abcdef"
OTHER = "other-token-0123456789abcdef"
PROXIES = 12
TIMEOUT = 10.0


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    policies = PolicyDir.create(tmp_path / "policies")
    tokens = token_file(tmp_path / "proxy-tokens", {EDGE: NODE_CLUSTER, OTHER: "other"})
    with ServeProcess(
        policies.path,
        tmp_path / "state",
        tmp_path / "serve.log",
        extra_args=["--workers", "2", "--proxy-token-file", str(tokens)],
    ) as process:
        yield process


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _own_connection(port: int) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        f"{LOOPBACK}:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )


async def _first_response(port: int, node_id: str, token: str | None) -> Any:
    async with (
        _own_connection(port) as channel,
        AdsClient(channel, node_id, metadata=_bearer(token) if token else ()) as client,
    ):
        await client.request(CLUSTER_TYPE)
        return await client.recv(TIMEOUT)


def test_workers_admit_by_token_and_the_parent_checks_reports(serve: ServeProcess) -> None:
    port = serve.xds_port

    def retries() -> float:
        return metric_sum(
            metrics_text(serve.admin_url), "breakwater_retries_total", subset="stable"
        )

    async def run() -> None:
        for node_id, token, code in (
            ("anonymous", None, grpc.StatusCode.UNAUTHENTICATED),
            ("claims-edge", OTHER, grpc.StatusCode.PERMISSION_DENIED),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _first_response(port, node_id, token)
            assert refused.value.code() == code, refused.value.details()

        channels = [_own_connection(port) for _ in range(PROXIES)]
        clients = [
            AdsClient(channel, f"tok-{n}", metadata=_bearer(EDGE))
            for n, channel in enumerate(channels)
        ]
        try:
            for client in clients:
                await client.__aenter__()
                await client.request(CLUSTER_TYPE)
            for client in clients:
                await client.ack(await client.recv(TIMEOUT))
            # Streams on both workers, each admitted there.
            assert all(clients_of(pid, port) for pid in worker_pids(serve.pid))

            before = retries()
            with grpc.insecure_channel(f"{LOOPBACK}:{port}") as reports:
                for n in range(PROXIES):
                    request = export(STABLE, counters={"cluster.upstream_rq_retry": 1})
                    send_export(reports, request, f"tok-{n}", _bearer(EDGE))
                for node_id, token in (("tok-0", OTHER), ("nobody", EDGE)):
                    with pytest.raises(grpc.RpcError) as rejected:
                        send_export(reports, export(STABLE), node_id, _bearer(token))
                    error: Any = rejected.value
                    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
            await asyncio.to_thread(
                wait_until, lambda: retries() == before + PROXIES, TIMEOUT, "the reports to count"
            )
        finally:
            for client in clients:
                await client.__aexit__()
            for opened in channels:
                await opened.close(None)

    asyncio.run(run())
