"""Real Envoys with proxy credentials: one with a token, one with a certificate naming its
node cluster; both sync and their reports count. Another certificate cannot report for
them, and a client without a credential neither counts as a proxy nor holds up a rollout."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from breakwater.client import http
from breakwater.controlplane.api.credentials import load_proxy_tokens
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.bootstrap import XdsTls
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.prometheus import metric_sum
from breakwater.devtools.traffic import send_requests
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from breakwater.xds_types import ROUTE_TYPE
from tests.fleet.otlp import export as otlp_export
from tests.support.ads import BlockingAdsClient
from tests.support.credentials import SERVER_NAME, TestCa, secure_channel, token_file
from tests.support.envoy import envoy_for
from tests.support.policies import (
    DELTA_NODE_CLUSTER,
    NODE_CLUSTER,
    STABLE,
    PolicyDir,
    SplitRoute,
    rollout_document,
)
from tests.support.reports import export

TOKEN = "edge-proxy-token-0123456789"
FLUSH = 1.0
REPORTED = FLUSH * 2 + 6
"""How long a report may take to count: a flush, the next, and slack for a busy machine."""

ROLLOUT = rollout_document("    - setWeight: 20\n    - pause: {}\n")


@pytest.fixture
def upstreams() -> Iterator[tuple[UpstreamServer, UpstreamServer]]:
    stable = UpstreamServer(service="payments", subset="stable").start()
    canary = UpstreamServer(service="payments", subset="canary").start()
    try:
        yield stable, canary
    finally:
        stable.stop()
        canary.stop()


@pytest.fixture
def policies(tmp_path: Path, upstreams: tuple[UpstreamServer, UpstreamServer]) -> PolicyDir:
    stable, canary = upstreams
    return PolicyDir.create(
        tmp_path / "policies",
        stable.port,
        canary.port,
        gateways=(NODE_CLUSTER, DELTA_NODE_CLUSTER),
        routes=(SplitRoute(gateways=(NODE_CLUSTER, DELTA_NODE_CLUSTER)),),
    )


class Admin:
    """The admin API of a control plane, over TLS when it has a certificate."""

    def __init__(self, control: ControlPlaneThread, context: ssl.SSLContext | None) -> None:
        self.url = control.admin_url
        self.context = context

    def get(self, path: str) -> Any:
        return http("GET", f"{self.url}{path}", context=self.context)

    def proxies(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.get("/v1/status").body["proxies"]
        return answer

    def fleet_requests(self) -> float:
        text = self.get("/metrics").text
        return metric_sum(text, "breakwater_upstream_requests_total", service="payments")


def start_plane(
    tmp_path: Path, policies: PolicyDir, security: SecurityConfig
) -> ControlPlaneThread:
    return ControlPlaneThread(
        policies.path,
        tmp_path / "state",
        security=security,
        fleet=FleetOptions(load_report_interval=FLUSH),
    ).start()


def syncs_and_counts(envoy: EnvoyProcess, admin: Admin, url: str, node_id: str) -> None:
    """The Envoy is the one synced proxy, carries traffic, and the fleet counts its reports."""
    wait_until(
        lambda: [(p["node_id"], p["synced"]) for p in admin.proxies()] == [(node_id, True)],
        15,
        f"{node_id} to be the one synced proxy",
    )
    before = admin.fleet_requests()
    result = send_requests(url, 20, concurrency=2)
    assert result.by_status[200] == 20, result.summary()
    wait_until(
        lambda: admin.fleet_requests() - before == 20, REPORTED, "the fleet to count 20 responses"
    )


def test_an_envoy_with_a_proxy_token_syncs_and_its_reports_count(
    tmp_path: Path, policies: PolicyDir
) -> None:
    tokens = load_proxy_tokens(token_file(tmp_path / "proxies", {TOKEN: NODE_CLUSTER}))
    control = start_plane(tmp_path, policies, SecurityConfig(proxy_tokens=tokens))
    try:
        envoy = envoy_for(
            control.xds_port,
            "edge-token-1",
            tmp_path / "envoy",
            proxy_token=TOKEN,
            stats_flush_interval=f"{FLUSH}s",
        )
        with envoy:
            syncs_and_counts(envoy, Admin(control, None), policies.url(), "edge-token-1")
    finally:
        control.stop()


def test_an_envoy_with_a_certificate_syncs_counts_and_no_other_certificate_reports_for_it(
    tmp_path: Path, policies: PolicyDir
) -> None:
    ca = TestCa(tmp_path / "pki")
    server = ca.server()
    security = SecurityConfig(tls_cert=server.cert, tls_key=server.key, tls_client_ca=ca.cert)
    control = start_plane(tmp_path, policies, security)
    try:
        issued = ca.proxy("edge-cert-1", DELTA_NODE_CLUSTER)
        tls = XdsTls(
            ca_file=str(ca.cert),
            cert_file=str(issued.cert),
            key_file=str(issued.key),
            server_name=SERVER_NAME,
        )
        envoy = envoy_for(
            control.xds_port,
            "edge-cert-1",
            tmp_path / "envoy",
            delta=True,
            tls=tls,
            stats_flush_interval=f"{FLUSH}s",
        )
        admin = Admin(control, ca.client_context())
        with envoy:
            syncs_and_counts(envoy, admin, policies.url(DELTA_NODE_CLUSTER), "edge-cert-1")
            # Another proxy of the same node cluster, with its own certificate.
            sibling = ca.proxy("edge-cert-2", DELTA_NODE_CLUSTER)
            with secure_channel(control.xds_port, ca, sibling) as channel:
                fake = otlp_export(STABLE, responses={"2": 1000})
                with pytest.raises(grpc.RpcError) as refused:
                    export(channel, fake, "edge-cert-1")
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert admin.fleet_requests() < 1000
    finally:
        control.stop()


def test_an_unauthenticated_client_cannot_hold_up_a_rollout(
    tmp_path: Path, policies: PolicyDir
) -> None:
    policies.replace(policies.path / "rollout.yaml", ROLLOUT)
    tokens = load_proxy_tokens(token_file(tmp_path / "proxies", {TOKEN: NODE_CLUSTER}))
    control = start_plane(tmp_path, policies, SecurityConfig(proxy_tokens=tokens))
    admin = Admin(control, None)
    try:
        envoy = envoy_for(control.xds_port, "edge-1", tmp_path / "envoy", proxy_token=TOKEN)
        # A client that would subscribe to the route and never acknowledge it, which
        # would hold every step until it did, is refused before it counts as a proxy.
        with envoy, BlockingAdsClient(control.xds_port, "intruder", NODE_CLUSTER) as intruder:
            intruder.request(ROUTE_TYPE, ["edge"])
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                intruder.recv(timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "--proxy-token-file" in (refused.value.details() or "")

            def held() -> bool:
                history = admin.get("/v1/rollouts/payments").body.get("history", [])
                return any(e["message"] == "step 0 holds on every proxy" for e in history)

            wait_until(held, 15, "step 0 to hold on every proxy")
            assert [p["node_id"] for p in admin.proxies()] == ["edge-1"]
    finally:
        control.stop()
