"""A web page in the operator's browser cannot steer traffic: cross-site writes and DNS rebinding.

Without a token, loopback is the only guard of the admin API, and a browser on the same machine
is on loopback. A page of another site could otherwise POST a form-like request (no CORS
preflight: `text/plain`) or rebind its own name to 127.0.0.1 and read and write as the page's
own origin. These tests send what such a browser sends, to a real server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import free_port
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until
from tests.api.cli import run_cli
from tests.support.addresses import own_address
from tests.support.http import exchange
from tests.support.policies import PolicyDir, rollout_document

ROLLOUT = rollout_document(
    "    - setWeight: 20\n    - pause: {duration: 1h}\n",
    "  analysis:\n    interval: 60s\n    minRequests: 10\n    failureLimit: 1\n"
    "    successRate: {min: 95}\n",
)
TOKEN = "cross-site-test-token-0123456789"
EVIL = "https://evil.example"


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlaneThread]:
    policies = PolicyDir.create(tmp_path / "policies")
    (policies.path / "rollout.yaml").write_text(ROLLOUT)
    with ControlPlaneThread(policies.path, tmp_path / "state") as running:
        yield running


def _address(plane: ControlPlaneThread) -> tuple[str, int]:
    return "127.0.0.1", plane.admin_port


def _answer(body: bytes) -> Any:
    return json.loads(body.decode())


def _phase(plane: ControlPlaneThread) -> str:
    phase: str = http("GET", f"{plane.admin_url}/v1/rollouts/payments").body["phase"]
    return phase


def test_a_cross_site_form_post_does_not_pause_a_rollout(plane: ControlPlaneThread) -> None:
    wait_until(lambda: _phase(plane) == "Progressing", 10, "the rollout to start")
    # What a page on another site sends with fetch(..., {mode: "no-cors"}) or a form: a
    # "simple" request, which the browser sends without asking the server first.
    refused = exchange(
        "POST",
        _address(plane),
        "/v1/rollouts/payments/pause",
        host=f"127.0.0.1:{plane.admin_port}",
        headers={"Origin": EVIL, "Content-Type": "text/plain"},
        body=b"{}",
    )
    assert refused.status == 403, refused.body
    error = _answer(refused.body)["error"]
    assert EVIL in error and "origin" in error
    assert _phase(plane) != "Paused"

    # Without an Origin (a tool, or an old browser), a form's type is still refused.
    untyped = exchange(
        "POST",
        _address(plane),
        "/v1/rollouts/payments/pause",
        host=f"127.0.0.1:{plane.admin_port}",
        headers={"Content-Type": "text/plain"},
        body=b"{}",
    )
    assert untyped.status == 415, untyped.body
    assert "Content-Type: application/json" in _answer(untyped.body)["error"]
    assert _phase(plane) != "Paused"

    # The console's own origin, with JSON: the write goes through.
    own = exchange(
        "POST",
        _address(plane),
        "/v1/rollouts/payments/pause",
        host=f"localhost:{plane.admin_port}",
        headers={
            "Origin": f"http://localhost:{plane.admin_port}",
            "Content-Type": "application/json",
        },
        body=b"{}",
    )
    assert own.status == 200, own.body
    assert _phase(plane) == "Paused"


def test_a_weight_write_from_another_origin_is_refused(tmp_path: Path) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    with ControlPlaneThread(policies.path, tmp_path / "state") as plane:
        url = f"{plane.admin_url}/v1/routes/payments/weights"
        for origin in (EVIL, "null", f"http://127.0.0.1:{plane.admin_port + 1}"):
            weights = {"weights": {"stable": 1, "canary": 1}}
            reply = http("PUT", url, weights, headers={"Origin": origin})
            assert reply.status == 403, (origin, reply.text)
        assert http("GET", url).body["source"] == "yaml"


def test_a_rebound_host_name_is_not_answered(plane: ControlPlaneThread) -> None:
    port = plane.admin_port
    for path in ("/v1/status", "/", "/healthz"):
        rebound = exchange("GET", _address(plane), path, host=f"attacker.example:{port}")
        assert rebound.status == 421, (path, rebound.body)
        error = _answer(rebound.body)["error"]
        assert "attacker.example" in error and "--admin-host" in error
    written = exchange(
        "PUT",
        _address(plane),
        "/v1/routes/payments/weights",
        host=f"attacker.example:{port}",
        headers={"Origin": f"http://attacker.example:{port}", "Content-Type": "application/json"},
        body=b'{"weights": {"stable": 1, "canary": 1}}',
    )
    assert written.status == 421, written.body
    # The names of loopback itself are answered on a loopback listener.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
        assert exchange("GET", _address(plane), "/v1/status", host=host).status == 200, host


def test_the_cli_still_steers_a_rollout(plane: ControlPlaneThread) -> None:
    paused = run_cli("rollout", "pause", "payments", "--server", plane.admin_url)
    assert paused.returncode == 0, paused.stderr
    assert "phase Paused" in paused.stdout
    resumed = run_cli("rollout", "resume", "payments", "--server", plane.admin_url)
    assert resumed.returncode == 0, resumed.stderr
    reset = run_cli("weights", "reset", "payments", "--rule", "0", "--server", plane.admin_url)
    assert reset.returncode == 1  # driven by the rollout: the server's sentence, not a 415
    assert "415" not in reset.stderr and "Rollout" in reset.stderr


def test_on_every_interface_probes_by_pod_address_and_named_hosts_are_answered(
    tmp_path: Path,
) -> None:
    """kubelet probes `POD_IP:PORT` with that as the Host; an ingress forwards its own name."""
    address = own_address()
    port = free_port("0.0.0.0")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    os.chmod(token_file, 0o600)
    policies = PolicyDir.create(tmp_path / "policies")
    server = ServeProcess(
        policies.path,
        tmp_path / "state",
        tmp_path / "serve.log",
        admin_port=port,
        extra_args=[
            "--admin-address",
            f"0.0.0.0:{port}",
            "--token-file",
            str(token_file),
            "--admin-host",
            "cp.example",
            "--admin-host",
            "breakwater.internal",
        ],
    )
    with server:
        reached = (address, port)
        for path in ("/healthz", "/readyz", "/metrics"):
            probe = exchange("GET", reached, path, host=f"{address}:{port}")
            assert probe.status == 200, (path, probe.body)
        for name in ("cp.example", "breakwater.internal:443", "CP.EXAMPLE"):
            assert exchange("GET", reached, "/v1/status", host=name).status == 200, name
        refused = exchange("GET", reached, "/v1/status", host="attacker.example")
        assert refused.status == 421, refused.body
        assert "--admin-host" in _answer(refused.body)["error"]
        # The Origin of a page served under an ingress name matches that name.
        written = exchange(
            "PUT",
            reached,
            "/v1/routes/payments/weights",
            host="cp.example",
            headers={
                "Origin": "https://cp.example",
                "Content-Type": "application/json",
                "Authorization": f"Bearer {TOKEN}",
            },
            body=b'{"weights": {"stable": 3, "canary": 1}}',
        )
        assert written.status == 200, written.body
