"""grpc-go's own xDS client, a second and independent implementation beside grpcio's C-core.

What Breakwater sends proxyless clients must follow the gRFCs, not one client's
tolerance: the same split and header match that steer grpcio steer grpc-go
(`tests/proxyless/goclient`, built by `make grpc-go-client`), and grpc-go never
NACKs a response. Proxy credentials in the bootstrap (`call_creds` of type
`jwt_token_file`, gRFC A97, which both clients read behind
`GRPC_EXPERIMENTAL_XDS_BOOTSTRAP_CALL_CREDS`) are proved with each client against a
control plane that demands them over TLS, with the bootstrap `breakwater bootstrap
--grpc` prints.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from breakwater.cli import main
from breakwater.controlplane.api.credentials import load_proxy_tokens
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.devtools.proxyless import GrpcBackend
from tests.support.credentials import TestCa, token_file, write_secret
from tests.support.proxyless import (
    BREAKWATER_ROUTE,
    CLIENTS,
    GAMMA_ROUTE,
    Plane,
    assert_split_and_header_match,
    client_program,
    first_answer,
    grpc_go_client,
    service,
)

CALL_CREDS = {"GRPC_EXPERIMENTAL_XDS_BOOTSTRAP_CALL_CREDS": "true"}
"""grpc-go reads `call_creds` from the bootstrap only with this switch (gRFC A97)."""


@pytest.mark.parametrize("route", [BREAKWATER_ROUTE, GAMMA_ROUTE], ids=["breakwater", "gamma"])
def test_a_split_and_a_header_match_steer_grpc_go(
    plane: Plane, backends: dict[str, GrpcBackend], route: str
) -> None:
    plane.start(service(backends) + route)
    client = plane.client("checkout-go", program=grpc_go_client())
    first_answer(client)

    assert_split_and_header_match(client)

    (proxy,) = plane.proxyless()
    assert "go" in proxy["user_agent"].lower(), proxy
    assert proxy["proxyless"] and proxy["synced"], proxy
    assert {t["type"] for t in proxy["types"]} >= {"lds", "rds", "cds", "eds"}, proxy
    for kind in proxy["types"]:
        assert kind["nacks"] == 0 and not kind["nack_message"], kind


EVERYTHING = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments-split}
spec:
  services: [payments]
  rules:
    - matches:
        - path: {segmentPrefix: /breakwater.test.Echo}
          method: POST
          headers: [{name: canary-user, value: "true"}]
      backends: [{service: payments, subset: canary}]
      fault: {abort: {status: 503, percent: 1}}
    - backends:
        - {service: payments, subset: stable, weight: 90}
        - {service: payments, subset: canary, weight: 10}
      timeout: {request: 2s}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: payments}
spec:
  targetRef: {name: payments}
  retry: {attempts: 3, retryOn: [unavailable, cancelled], backoff: {baseInterval: 25ms}}
  circuitBreaker: {failureRateThreshold: 50, minimumRequests: 10, interval: 5s, openDuration: 30s}
  bulkhead: {maxConcurrentRequests: 100}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: payments-canary}
spec:
  targetRef: {name: payments, subset: canary}
  loadBalancer: {policy: ring-hash, hashOn: {header: user-id}}
"""
"""Every kind of field the proxyless slice writes (its golden test's policy): the fault
filter, a segment prefix as a regex, max_stream_duration, retries on status codes, outlier
detection, max_requests, ring hash with a header hash policy, locality weights."""


def test_grpc_go_takes_every_field_it_is_sent(
    plane: Plane, backends: dict[str, GrpcBackend]
) -> None:
    plane.start(service(backends) + EVERYTHING)
    client = plane.client("checkout-go", program=grpc_go_client())
    first_answer(client)
    assert sum(client.calls(20)["by"].values()) >= 19  # the policies' status codes retried
    marked = client.calls(20, {"canary-user": "true", "user-id": "u-7"})
    assert set(marked["by"]) == {"canary-1"} and marked["by"]["canary-1"] >= 15, marked

    (proxy,) = plane.proxyless()
    assert proxy["synced"], proxy
    for kind in proxy["types"]:
        assert kind["nacks"] == 0 and not kind["nack_message"], kind


def _jwt(expires_in: float) -> str:
    """A JWT whose claims say when it expires: grpc-go reads `exp` to know when to
    read the file again; the control plane compares the token as it is."""

    def part(value: dict[str, Any] | str) -> str:
        raw = value if isinstance(value, str) else json.dumps(value)
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()

    claims = {"sub": "checkout-go", "exp": int(time.time() + expires_in)}
    return ".".join((part({"alg": "none", "typ": "JWT"}), part(claims), part("unsigned")))


def _bootstrap(capsys: pytest.CaptureFixture[str], port: int, *flags: str) -> dict[str, Any]:
    """What `breakwater bootstrap --grpc` prints for node checkout-go of cluster proxyless."""
    argv = ["bootstrap", "--grpc", "--node-id", "checkout-go", "--node-cluster", "proxyless"]
    assert main([*argv, "--xds-address", f"127.0.0.1:{port}", *flags]) == 0
    printed: dict[str, Any] = json.loads(capsys.readouterr().out)
    return printed


@pytest.mark.parametrize("client", CLIENTS)
def test_a_grpc_client_presents_its_proxy_token_over_tls(
    client: str,
    plane: Plane,
    backends: dict[str, GrpcBackend],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = _jwt(3600)
    ca = TestCa(tmp_path / "pki")
    server = ca.server()
    security = SecurityConfig(
        tls_cert=server.cert,
        tls_key=server.key,
        proxy_tokens=load_proxy_tokens(token_file(tmp_path / "proxies", {token: "proxyless"})),
    )
    plane.start(
        service(backends) + BREAKWATER_ROUTE, security=security, admin_tls=ca.client_context()
    )
    assert plane.thread is not None
    port = plane.thread.xds_port
    mine = write_secret(tmp_path / "checkout-go.jwt", token + "\n")

    with_token = _bootstrap(capsys, port, "--tls-ca", str(ca.cert), "--proxy-token-file", str(mine))
    assert with_token["xds_servers"][0]["call_creds"] == [
        {"type": "jwt_token_file", "config": {"jwt_token_file": str(mine)}}
    ]
    served = plane.client(program=client_program(client), bootstrap=with_token, env=CALL_CREDS)
    first_answer(served)
    assert served.calls(20, {"canary-user": "true"})["by"] == {"canary-1": 20}

    unswitched = plane.client(program=client_program(client), bootstrap=with_token)
    assert unswitched.calls(1, timeout=10)["by"] == {}  # call_creds ignored: refused

    without = _bootstrap(capsys, port, "--tls-ca", str(ca.cert))
    refused = plane.client(program=client_program(client), bootstrap=without, env=CALL_CREDS)
    answer = refused.calls(1, timeout=10)
    assert answer["by"] == {}, answer
    assert "Unauthenticated" in answer["detail"] or "UNAUTHENTICATED" in answer["detail"], answer
    assert "GRPC_EXPERIMENTAL_XDS_BOOTSTRAP_CALL_CREDS=true" in answer["detail"], answer

    (proxy,) = plane.proxyless()  # the refused clients never got a stream
    assert proxy["node_id"] == "checkout-go" and proxy["synced"], proxy
    for kind in proxy["types"]:
        assert kind["nacks"] == 0, kind
