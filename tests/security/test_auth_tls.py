"""Tokens guard writes; TLS and mTLS guard the ports; a stock Envoy connects over mTLS."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from breakwater.client import http
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.api.token_files import SecurityError
from breakwater.controlplane.bootstrap import XdsTls, render_bootstrap
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import free_port
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from tests.support.credentials import TestCa

TOKEN = "s3cret-token-of-enough-length"
POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  endpoints:
    - {{address: 127.0.0.1, port: 9, labels: {{track: blue}}}}
    - {{address: 127.0.0.1, port: 10, labels: {{track: green}}}}
  subsets:
    - {{name: blue, labels: {{track: blue}}}}
    - {{name: green, labels: {{track: green}}}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec: {{address: 127.0.0.1, port: {port}, nodeSelector: {{cluster: edge}}}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: web}}
spec:
  gateways: [edge]
  rules:
    - backends:
        - {{service: web, subset: blue, weight: 100}}
        - {{service: web, subset: green, weight: 0}}
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir()
    (directory / "web.yaml").write_text(POLICIES.format(port=free_port()))
    return directory


def _request(
    url: str,
    method: str = "GET",
    body: Any = None,
    token: str | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    reply = http(method, url, body, headers=headers, context=context)
    status, answer = reply.status, reply.body
    return status, answer


def test_startup_refuses_exposed_writes_without_token() -> None:
    with pytest.raises(SecurityError, match="--token-file"):
        SecurityConfig().check_startup("0.0.0.0", "127.0.0.1")
    warnings = SecurityConfig(
        insecure_allow_writes=True, insecure_anonymous_proxies=True
    ).check_startup("0.0.0.0", "127.0.0.1")
    assert any("can change traffic" in w for w in warnings)
    exposed = SecurityConfig(token=TOKEN, insecure_anonymous_proxies=True)
    assert exposed.check_startup("0.0.0.0", "0.0.0.0")
    assert SecurityConfig().check_startup("127.0.0.1", "::1") == []


def test_serve_command_refuses_to_start_exposed(tmp_path: Path, policy_dir: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakwater.cli",
            "serve",
            "-c",
            str(policy_dir),
            "--state",
            str(tmp_path / "state"),
            "--admin-address",
            f"0.0.0.0:{free_port()}",
            "--xds-port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "without --token-file" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_guards_writes_http_and_grpc(tmp_path: Path, policy_dir: Path) -> None:
    security = SecurityConfig(token=TOKEN)
    with ControlPlaneThread(policy_dir, tmp_path / "state", security=security) as plane:
        url = f"{plane.admin_url}/v1/routes/web/weights"
        body = {"weights": {"blue": 0, "green": 100}}
        assert _request(url)[0] == 200  # reads stay open
        status, answer = _request(url, "PUT", body)
        assert status == 401 and "Bearer" in answer["error"]
        assert _request(url, "PUT", body, token="wrong-token-of-same-size!!")[0] == 401
        assert _request(url, "DELETE")[0] == 401
        status, answer = _request(url, "PUT", body, token=TOKEN)
        assert status == 200 and answer["weights"] == {"blue": 0, "green": 100}

        with grpc.insecure_channel(f"127.0.0.1:{plane.xds_port}") as channel:
            stub = pb_grpc.BreakwaterStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.ResetWeights(pb.ResetWeightsRequest(route="web"), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            reset = stub.ResetWeights(
                pb.ResetWeightsRequest(route="web"),
                metadata=[("authorization", f"Bearer {TOKEN}")],
                timeout=5,
            )
            assert reset.source == "yaml"
            assert (
                stub.GetWeights(pb.GetWeightsRequest(route="web"), timeout=5).weights["blue"] == 100
            )


def test_protected_reads_keep_probes_open(tmp_path: Path, policy_dir: Path) -> None:
    security = SecurityConfig(token=TOKEN, protect_reads=True)
    with ControlPlaneThread(policy_dir, tmp_path / "state", security=security) as plane:
        assert _request(f"{plane.admin_url}/v1/status")[0] == 401
        assert _request(f"{plane.admin_url}/metrics".replace("/metrics", "/v1/policies"))[0] == 401
        assert _request(f"{plane.admin_url}/v1/status", token=TOKEN)[0] == 200
        assert _request(f"{plane.admin_url}/healthz")[0] == 200
        assert _request(f"{plane.admin_url}/readyz")[0] == 200


@pytest.fixture
def pki(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A CA, the server's certificate, a proxy's (naming its node cluster, as mTLS asks)
    and a rogue one from another CA."""
    ca = TestCa(tmp_path / "ca")
    server = ca.server()
    proxy = ca.proxy("edge-1", "edge")
    rogue = TestCa(tmp_path / "other-ca").proxy("edge-1", "edge")
    yield {
        "ca": ca.cert,
        "server_cert": server.cert,
        "server_key": server.key,
        "proxy_cert": proxy.cert,
        "proxy_key": proxy.key,
        "rogue_cert": rogue.cert,
        "rogue_key": rogue.key,
    }


def _grpc_status(port: int, pki: dict[str, Path], cert: str | None) -> grpc.StatusCode | None:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki[f"{cert}_key"].read_bytes() if cert else None,
        certificate_chain=pki[f"{cert}_cert"].read_bytes() if cert else None,
    )
    with grpc.secure_channel(
        f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as channel:
        try:
            pb_grpc.BreakwaterStub(channel).GetStatus(pb.GetStatusRequest(), timeout=3)
        except grpc.RpcError as exc:
            return exc.code()
    return None


def test_envoy_connects_over_mtls_and_wrong_certificates_are_refused(
    tmp_path: Path, policy_dir: Path, pki: dict[str, Path]
) -> None:
    security = SecurityConfig(
        tls_cert=pki["server_cert"], tls_key=pki["server_key"], tls_client_ca=pki["ca"]
    )
    with ControlPlaneThread(policy_dir, tmp_path / "state", security=security) as plane:
        # The admin port speaks TLS with the same certificate.
        context = ssl.create_default_context(cafile=str(pki["ca"]))
        assert _request(f"https://localhost:{plane.admin_port}/healthz", context=context)[0] == 200

        assert _grpc_status(plane.xds_port, pki, "proxy") is None
        assert _grpc_status(plane.xds_port, pki, "rogue") == grpc.StatusCode.UNAVAILABLE
        assert _grpc_status(plane.xds_port, pki, None) == grpc.StatusCode.UNAVAILABLE

        tls = XdsTls(
            ca_file=str(pki["ca"]),
            cert_file=str(pki["proxy_cert"]),
            key_file=str(pki["proxy_key"]),
            server_name="localhost",
        )
        bootstrap = render_bootstrap(
            "edge-1", "edge", [("127.0.0.1", plane.xds_port)], free_port(), tls=tls
        )
        with EnvoyProcess(bootstrap) as envoy:
            envoy.wait_for(
                lambda: "web|green" in envoy.dynamic_names("clusters"), 10, "clusters over mTLS"
            )
            status = _request(f"https://localhost:{plane.admin_port}/v1/status", context=context)[1]
            (proxy,) = status["proxies"]
            assert proxy["node_id"] == "edge-1"
            assert {t["state"] for t in proxy["types"]} == {"synced"}

        rogue_tls = XdsTls(
            ca_file=str(pki["ca"]),
            cert_file=str(pki["rogue_cert"]),
            key_file=str(pki["rogue_key"]),
            server_name="localhost",
        )
        bootstrap = render_bootstrap(
            "edge-2", "edge", [("127.0.0.1", plane.xds_port)], free_port(), tls=rogue_tls
        )
        envoy = EnvoyProcess(bootstrap).start(wait_ready=False)
        try:
            # Envoy runs (its bootstrap is valid) but its TLS handshakes fail: no config arrives,
            # so it stays initializing, waiting for its first clusters.
            failures = envoy.wait_for(
                lambda: (
                    envoy.stats().get("cluster.xds_cluster.ssl.connection_error", 0)
                    + envoy.stats().get("cluster.xds_cluster.upstream_cx_connect_fail", 0)
                ),
                5,
                "failed TLS handshakes",
            )
            assert failures >= 1
            assert not envoy.dynamic_names("clusters")
            status = _request(f"https://localhost:{plane.admin_port}/v1/status", context=context)[1]
            assert [p["node_id"] for p in status["proxies"]] == []
        finally:
            envoy.stop()
            envoy.cleanup()
