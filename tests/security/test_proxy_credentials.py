"""Only proxies holding a credential may fetch config and report, and only for themselves.

Real gRPC clients (the `xds-protos` ADS and LRS stubs, OTLP by its service name)
against the real control plane, once with a proxy token file and once over mTLS
with certificates naming their node cluster in a URI SAN.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from breakwater.controlplane.api.credentials import load_proxy_tokens
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.prometheus import metric_sum, metrics_text
from breakwater.devtools.waiting import wait_until
from breakwater.otlp.v1 import metrics_pb2
from breakwater.xds_types import CLUSTER_TYPE
from tests.fleet.otlp import export as otlp_export
from tests.support.ads import AdsClient, BlockingAdsClient
from tests.support.credentials import (
    Issued,
    TestCa,
    bearer,
    secure_aio_channel,
    secure_channel,
    token_file,
)
from tests.support.policies import STABLE, PolicyDir, SplitRoute
from tests.support.reports import cluster_load, export, load_report

EDGE_A = "edge-a-token-0123456789"
EDGE_A_OTHER = "edge-a-second-token-0123"
EDGE_B = "edge-b-token-0123456789"

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture
def policies(tmp_path: Path) -> PolicyDir:
    """Gateways for node clusters `edge-a` and `edge-b`, one split route on both."""
    return PolicyDir.create(
        tmp_path / "policies",
        gateways=("edge-a", "edge-b"),
        routes=(SplitRoute(gateways=("edge-a", "edge-b")),),
    )


@pytest.fixture
def token_plane(tmp_path: Path, policies: PolicyDir) -> Iterator[ControlPlaneThread]:
    tokens = token_file(
        tmp_path / "proxies", {EDGE_A: "edge-a", EDGE_A_OTHER: "edge-a", EDGE_B: "edge-b"}
    )
    security = SecurityConfig(proxy_tokens=load_proxy_tokens(tokens))
    with ControlPlaneThread(policies.path, tmp_path / "state", security=security) as plane:
        yield plane


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "pki")


@pytest.fixture
def mtls_plane(tmp_path: Path, policies: PolicyDir, ca: TestCa) -> Iterator[ControlPlaneThread]:
    server = ca.server()
    security = SecurityConfig(tls_cert=server.cert, tls_key=server.key, tls_client_ca=ca.cert)
    with ControlPlaneThread(policies.path, tmp_path / "state", security=security) as plane:
        yield plane


def ads_outcome(
    open_channel: Callable[[], grpc.aio.Channel],
    cluster: str,
    *,
    token: str | None = None,
    delta: bool = False,
    node_id: str = "edge-1",
) -> grpc.StatusCode:
    """OK once the stream answered the node's first request, else the status it ended with."""

    async def run() -> grpc.StatusCode:
        channel = open_channel()
        metadata = bearer(token) if token else ()
        try:
            async with AdsClient(channel, node_id, cluster, delta=delta, metadata=metadata) as ads:
                if delta:
                    await ads.delta_request(CLUSTER_TYPE)
                else:
                    await ads.request(CLUSTER_TYPE)
                try:
                    await ads.recv(timeout=5)
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK
        finally:
            await channel.close(None)

    return asyncio.run(run())


def plain(port: int) -> Callable[[], grpc.aio.Channel]:
    return lambda: grpc.aio.insecure_channel(f"{LOOPBACK}:{port}")


def refused(call: object) -> grpc.StatusCode:
    """The status a blocking call (a thunk) ended with; OK if it succeeded."""
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return,attr-defined]
    return grpc.StatusCode.OK


def stable_report(count: int) -> metrics_pb2.ExportMetricsServiceRequest:
    return otlp_export(STABLE, responses={"2": count})


def test_calls_without_a_credential_are_unauthenticated(token_plane: ControlPlaneThread) -> None:
    port = token_plane.xds_port
    for delta in (False, True):
        assert ads_outcome(plain(port), "edge-a", delta=delta) == UNAUTHENTICATED
        assert ads_outcome(plain(port), "edge-a", delta=delta, token="unknown-token-0123456") == (
            UNAUTHENTICATED
        )
    with grpc.insecure_channel(f"{LOOPBACK}:{port}") as channel:
        assert refused(lambda: export(channel, stable_report(5), "edge-1")) == UNAUTHENTICATED
        lrs = [cluster_load(STABLE, LOOPBACK, 9, 5)]
        assert refused(lambda: load_report(channel, "edge-1", "edge-a", lrs)) == UNAUTHENTICATED
    assert [p["node_id"] for p in token_plane_status(token_plane)] == []


def token_plane_status(plane: ControlPlaneThread) -> list[dict[str, object]]:
    from breakwater.client import http

    proxies: list[dict[str, object]] = http("GET", f"{plane.admin_url}/v1/status").body["proxies"]
    return proxies


def test_a_token_for_edge_a_may_not_claim_edge_b(token_plane: ControlPlaneThread) -> None:
    port = token_plane.xds_port
    for delta in (False, True):
        assert ads_outcome(plain(port), "edge-b", token=EDGE_A, delta=delta) == PERMISSION_DENIED
        assert ads_outcome(plain(port), "edge-a", token=EDGE_A, delta=delta) == grpc.StatusCode.OK
    with grpc.insecure_channel(f"{LOOPBACK}:{port}") as channel:
        lrs = [cluster_load(STABLE, LOOPBACK, 9, 5)]
        assert (
            refused(lambda: load_report(channel, "edge-1", "edge-b", lrs, bearer(EDGE_A)))
            == PERMISSION_DENIED
        )


def test_a_certificate_for_edge_a_may_not_claim_edge_b(
    mtls_plane: ControlPlaneThread, ca: TestCa
) -> None:
    port = mtls_plane.xds_port
    edge_a = ca.proxy("edge-a-1", "edge-a")
    nameless = ca.proxy("nameless", None)

    def outcome(issued: Issued, cluster: str, delta: bool) -> grpc.StatusCode:
        return ads_outcome(
            lambda: secure_aio_channel(port, ca, issued),
            cluster,
            delta=delta,
            node_id=issued.cert.stem,
        )

    for delta in (False, True):
        assert outcome(edge_a, "edge-b", delta) == PERMISSION_DENIED
        assert outcome(nameless, "edge-a", delta) == UNAUTHENTICATED
        assert outcome(edge_a, "edge-a", delta) == grpc.StatusCode.OK
    with secure_channel(port, ca, edge_a) as channel:
        lrs = [cluster_load(STABLE, LOOPBACK, 9, 5)]
        assert refused(lambda: load_report(channel, "edge-a-1", "edge-b", lrs)) == (
            PERMISSION_DENIED
        )


def fleet_numbers(plane: ControlPlaneThread) -> tuple[float, float]:
    """Reports the fleet counted, and the 2xx responses of payments' stable subset in them."""
    text = metrics_text(plane.admin_url)
    return (
        metric_sum(text, "breakwater_fleet_reports_total"),
        metric_sum(
            text,
            "breakwater_upstream_requests_total",
            service="payments",
            subset="stable",
            code_class="2xx",
        ),
    )


def test_reports_count_only_from_the_credential_that_holds_the_nodes_stream(
    token_plane: ControlPlaneThread,
) -> None:
    port = token_plane.xds_port
    lrs = [cluster_load(STABLE, LOOPBACK, 9, 5)]
    with (
        BlockingAdsClient(port, "edge-a-1", "edge-a", metadata=bearer(EDGE_A)) as proxy,
        grpc.insecure_channel(f"{LOOPBACK}:{port}") as channel,
    ):
        proxy.request(CLUSTER_TYPE)
        proxy.recv(timeout=5)
        # The proxy itself: counted.
        export(channel, stable_report(7), "edge-a-1", bearer(EDGE_A))
        load_report(channel, "edge-a-1", "edge-a", lrs, bearer(EDGE_A))
        assert fleet_numbers(token_plane) == (2, 7)

        # Its node id from another credential of the same cluster, from none, and a node
        # that holds no stream: refused, and not counted.
        fake = stable_report(1000)
        assert refused(lambda: export(channel, fake, "edge-a-1", bearer(EDGE_A_OTHER))) == (
            PERMISSION_DENIED
        )
        assert refused(lambda: export(channel, fake, "edge-a-1")) == UNAUTHENTICATED
        assert refused(lambda: export(channel, fake, "ghost", bearer(EDGE_A))) == (
            PERMISSION_DENIED
        )
        assert (
            refused(lambda: load_report(channel, "edge-a-1", "edge-a", lrs, bearer(EDGE_A_OTHER)))
            == PERMISSION_DENIED
        )
        assert fleet_numbers(token_plane) == (2, 7)

    # Once its stream is gone, not even its own credential reports for it.
    with grpc.insecure_channel(f"{LOOPBACK}:{port}") as channel:

        def gone() -> bool:
            return refused(
                lambda: export(channel, stable_report(1), "edge-a-1", bearer(EDGE_A))
            ) == (PERMISSION_DENIED)

        wait_until(gone, 5, "reports of a disconnected proxy to be refused")
