"""`breakwater serve` as a process: a write answered 200 survives `kill -9`, proxies ride out the
outage on their last config, and a corrupt state file stops startup without being touched."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_ports
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.traffic import ContinuousTraffic
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.api.cli import BREAKWATER
from tests.support.admin import proxy_synced, weights_url
from tests.support.envoy import envoy_for, envoy_route_weights
from tests.support.policies import PolicyDir

NODE_ID = "edge-durable"
OUTAGE_REQUESTS = 150  # served by Envoy alone while the control plane is dead


def _refused(url: str) -> bool:
    try:
        http("GET", url, timeout=1.0)
    except OSError:
        return True
    return False


def test_an_acknowledged_write_survives_kill_9_and_envoy_keeps_serving(
    tmp_path: Path, upstreams: tuple[UpstreamServer, UpstreamServer]
) -> None:
    stable, canary = upstreams
    policies = PolicyDir.create(tmp_path / "policies", stable.port, canary.port)
    state = tmp_path / "state"
    xds_port, admin_port = free_ports(2)

    def serve(log: str) -> ServeProcess:
        return ServeProcess(
            policies.path,
            state,
            xds_port=xds_port,
            admin_port=admin_port,
            log_path=tmp_path / log,
        )

    first = serve("serve-1.log").start()
    second: ServeProcess | None = None
    envoy: EnvoyProcess = envoy_for(xds_port, NODE_ID)
    traffic: ContinuousTraffic | None = None
    try:
        envoy.start()
        url = first.admin_url
        wait_until(lambda: proxy_synced(url, NODE_ID), 15, "Envoy to sync with the first server")
        gateway = policies.url()
        traffic = ContinuousTraffic(gateway, rate=150, timeout=5.0).start()
        traffic.wait_for(30)

        written = http("PUT", weights_url(url), {"weights": {"stable": 30, "canary": 70}})
        assert written.status == 200, written.text
        assert written.body["source"] == "override"
        # Nothing runs between the answer and the kill: no flush, no shutdown hook.
        assert first.kill9() == -9
        killed_at = time.monotonic()
        assert _refused(f"{url}/healthz")

        at_kill = traffic.completed
        traffic.wait_for(at_kill + OUTAGE_REQUESTS, timeout=30)
        during_outage = traffic.snapshot().records[at_kill:]
        assert len(during_outage) >= OUTAGE_REQUESTS
        assert all(r.status == 200 for r in during_outage), [
            (r.status, r.error, r.error_detail) for r in during_outage if r.status != 200
        ][:5]
        assert envoy.running

        second = serve("serve-2.log").start()
        back_at = time.monotonic()
        at_restart = traffic.completed
        again = http("GET", weights_url(second.admin_url))
        assert again.status == 200, again.text
        assert again.body == written.body
        status = http("GET", f"{second.admin_url}/v1/status").body
        assert status["state_revision"] == written.body["revision"]

        # Envoy finds the new process on the same port and ends up on the stored weights.
        wait_until(
            lambda: proxy_synced(second.admin_url, NODE_ID), 30, "Envoy to re-sync after restart"
        )
        synced_at = time.monotonic()
        envoy.wait_for(
            lambda: envoy_route_weights(envoy) == {"payments|stable": 30, "payments|canary": 70},
            10,
            "Envoy to hold the overridden weights",
        )
        traffic.wait_for(traffic.completed + 30)
        result = traffic.stop()
        traffic = None
        # Before, during and after the outage: every request answered, none with a 5xx.
        assert result.errors == 0, result.summary()
        assert result.server_errors == 0, result.summary()
        assert result.by_status.keys() == {200}, result.by_status
        print(
            f"\ncontrol plane down {back_at - killed_at:.2f} s, {at_restart - at_kill} requests "
            f"answered by Envoy meanwhile, all 200; re-synced {synced_at - back_at:.2f} s after "
            f"the restart; {result.total} requests in all, 0 errors"
        )
    finally:
        if traffic is not None:
            traffic.stop()
        envoy.cleanup()
        first.stop()
        if second is not None:
            second.stop()


@dataclass(frozen=True)
class Outcome:
    returncode: int | None
    """None when the server came up instead of exiting."""
    stderr: str


def _serve_once(policy_dir: Path, state: Path, tmp_path: Path, timeout: float = 20.0) -> Outcome:
    """Start `breakwater serve` and see whether it exits or comes up (then stop it)."""
    xds_port, admin_port = free_ports(2)
    err = tmp_path / "serve.stderr"
    with err.open("wb") as stderr:
        process = subprocess.Popen(
            [
                os.fspath(BREAKWATER),
                "serve",
                "-c",
                os.fspath(policy_dir),
                "--state",
                os.fspath(state),
                "--xds-port",
                str(xds_port),
                "--admin-port",
                str(admin_port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + timeout
        returncode: int | None = None
        while time.monotonic() < deadline:
            returncode = process.poll()
            if returncode is not None or not _refused(f"http://{LOOPBACK}:{admin_port}/healthz"):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"breakwater serve neither exited nor came up in {timeout} s")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
    return Outcome(returncode, err.read_text(errors="replace"))


def _real_state_file(policy_dir: Path, state: Path) -> bytes:
    """A state file written by the server itself, holding one override."""
    with ControlPlaneThread(policy_dir, state) as plane:
        reply = http("PUT", weights_url(plane.admin_url), {"weights": {"stable": 1, "canary": 1}})
        assert reply.status == 200, reply.text
    return (state / "breakwater.sqlite3").read_bytes()


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "text": lambda real: b"this is not a database\n" * 100,
    "truncated": lambda real: real[: len(real) // 2],
    "page-overwritten": lambda real: real[:4096] + bytes(range(256)) * 16 + real[8192:],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupt_state_file_stops_startup_and_is_left_alone(tmp_path: Path, damage: str) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    state = tmp_path / "state"
    real = _real_state_file(policies.path, state)
    entries = sorted(p.name for p in state.iterdir())  # the state file and the decode cache
    assert "breakwater.sqlite3" in entries
    state_file = state / "breakwater.sqlite3"
    damaged = DAMAGE[damage](real)
    assert damaged != real
    state_file.write_bytes(damaged)
    before = (hashlib.sha256(damaged).hexdigest(), state_file.stat().st_mtime_ns)

    done = _serve_once(policies.path, state, tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot open the state file {state_file}: "), last
    assert "corrupt" in last and "move it away" in last
    after = (hashlib.sha256(state_file.read_bytes()).hexdigest(), state_file.stat().st_mtime_ns)
    assert after == before
    assert sorted(p.name for p in state.iterdir()) == entries


def test_a_sqlite_file_that_is_not_breakwaters_is_refused_and_left_alone(tmp_path: Path) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    state = tmp_path / "state"
    state.mkdir()
    state_file = state / "breakwater.sqlite3"
    with sqlite3.connect(state_file) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
    db.close()
    before = hashlib.sha256(state_file.read_bytes()).hexdigest()
    done = _serve_once(policies.path, state, tmp_path)
    assert hashlib.sha256(state_file.read_bytes()).hexdigest() == before
    assert done.returncode == 1, "it served on the foreign file"
