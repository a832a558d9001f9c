"""Faults: the server killed mid-write, down for a while, its disk full, asked to stop.

Each test runs `breakwater serve` as a real process and does to it what
operations and bad luck do: SIGKILL in the middle of a burst of writes, a
long outage under traffic, a state file that can no longer grow (a real
`EFBIG` from `RLIMIT_FSIZE`, which SQLite sees exactly like a full disk),
and SIGTERM. Real Envoys and real upstreams show what the fleet sees.
"""

from __future__ import annotations

import functools
import resource
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from breakwater.client import http
from breakwater.devtools.prometheus import scrape
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.traffic import ContinuousTraffic
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.hardening.policies import DELTA_GATEWAY, ROUTES, hardening_policies
from tests.support.admin import proxy_synced, put_weights
from tests.support.envoy import envoy_for, envoy_route_weights
from tests.support.policies import CANARY, STABLE, PolicyDir

OUTAGE_SECONDS = 30.0
"""How long the control plane stays down while traffic flows (the requirement)."""
RESYNC_SECONDS = 5.0
"""How soon after the control plane is back every proxy must be synced again."""
STOP_SECONDS = 5.0
"""How soon `breakwater serve` must exit after SIGTERM."""


@dataclass
class Mesh:
    upstreams: tuple[UpstreamServer, UpstreamServer]
    policies: PolicyDir
    workdir: Path

    def serve(self, name: str = "serve") -> ServeProcess:
        return ServeProcess(
            self.policies.path, self.workdir / "state", self.workdir / f"{name}.log"
        )


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    stable = UpstreamServer(service="payments", subset="stable", instance="stable").start()
    try:
        canary = UpstreamServer(service="payments", subset="canary", instance="canary").start()
        try:
            policies = hardening_policies(tmp_path / "policies", stable.port, canary.port)
            yield Mesh((stable, canary), policies, tmp_path)
        finally:
            canary.stop()
    finally:
        stable.stop()


def _traffic_ok(url: str) -> bool:
    return http("GET", url, timeout=2).status == 200


# --- kill -9 in the middle of a burst of writes ---------------------------------------------


@dataclass
class Ack:
    route: str
    stable: int
    revision: int


def test_every_acknowledged_write_survives_kill_9(mesh: Mesh) -> None:
    """Four writers (two per route) write as fast as they can; SIGKILL lands mid-burst.

    After a restart each route holds its last acknowledged write, or a write that was in
    flight when the process died (committed, but the answer never arrived); the revision
    is at least the highest acknowledged one. Nothing acknowledged is ever lost.
    """
    acks: list[Ack] = []
    in_flight: dict[str, set[int]] = {route: set() for route in ROUTES}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(route: str, offset: int) -> None:
        for attempt in range(10_000):
            if stop.is_set():
                return
            stable = (attempt * 2 + offset) % 101
            with lock:
                in_flight[route].add(stable)
            try:
                reply = put_weights(
                    server.admin_url,
                    {"stable": stable, "canary": 100 - stable},
                    route=route,
                    timeout=5,
                )
            except OSError:
                return  # the server is gone: this write may or may not have landed
            if reply.status != 200:
                return
            with lock:
                in_flight[route].discard(stable)
                acks.append(Ack(route, stable, int(reply.body["revision"])))

    server = mesh.serve()
    with server:
        threads = [
            threading.Thread(target=writer, args=(route, offset), daemon=True)
            for route in ROUTES
            for offset in (0, 1)
        ]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(acks) >= 150, 20, "150 acknowledged writes")
        server.kill9()
        stop.set()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads)

        revisions = [ack.revision for ack in acks]
        assert len(set(revisions)) == len(revisions), "two writes answered with one revision"
        server.start()
        status = http("GET", f"{server.admin_url}/v1/status").body
        assert status["state_revision"] >= max(revisions)
        for route in ROUTES:
            last = max((a for a in acks if a.route == route), key=lambda a: a.revision)
            now = http("GET", f"{server.admin_url}/v1/routes/{route}/weights").body
            assert now["source"] == "override"
            if now["revision"] == last.revision:
                assert now["weights"] == {"stable": last.stable, "canary": 100 - last.stable}
            else:  # a later write committed just before the kill, never answered
                assert now["revision"] > last.revision, (route, now, last)
                assert now["weights"]["stable"] in in_flight[route], (route, now, in_flight)
    print(f"{len(acks)} writes acknowledged before SIGKILL; revision {max(revisions)} kept")


# --- the control plane down for OUTAGE_SECONDS under traffic ----------------------------------


def test_envoy_serves_through_an_outage_and_resyncs_when_it_is_back(mesh: Mesh) -> None:
    """SIGKILL the control plane under steady traffic; keep it down OUTAGE_SECONDS.

    Both Envoys (one over State of the World, one over Delta) answer every request with
    their last config, and are synced again within RESYNC_SECONDS once the server is back.
    """
    server = mesh.serve()
    with server:
        sotw = envoy_for(server.xds_port, "outage-sotw", mesh.workdir / "envoy-sotw")
        delta = envoy_for(server.xds_port, "outage-delta", mesh.workdir / "envoy-delta", delta=True)
        with sotw, delta:
            urls = (mesh.policies.url(), mesh.policies.url(DELTA_GATEWAY))
            for url in urls:
                wait_until(functools.partial(_traffic_ok, url), 10, f"traffic through {url}")
            budget = OUTAGE_SECONDS + 30
            flows = [
                ContinuousTraffic(url, rate=25, timeout=2.0, max_duration=budget) for url in urls
            ]
            for flow in flows:
                flow.start()
            try:
                for flow in flows:
                    flow.wait_for(25)
                server.kill9()
                time.sleep(OUTAGE_SECONDS)
                during = [flow.completed for flow in flows]
                launched = time.monotonic()
                server.start()
                ready = time.monotonic()
                for node in ("outage-sotw", "outage-delta"):
                    wait_until(
                        functools.partial(proxy_synced, server.admin_url, node),
                        RESYNC_SECONDS,
                        f"{node} synced",
                        interval=0.02,
                    )
                synced = time.monotonic()
                # A change made after the restart reaches both of them.
                assert put_weights(server.admin_url, {"stable": 30, "canary": 70}).status == 200
                wanted = {STABLE: 30, CANARY: 70}
                wait_until(lambda: envoy_route_weights(sotw) == wanted, 5, "SotW Envoy at 30/70")
                wait_until(
                    lambda: envoy_route_weights(delta, DELTA_GATEWAY) == wanted,
                    5,
                    "Delta Envoy at 30/70",
                )
                for flow in flows:
                    flow.wait_for(flow.completed + 25)
            finally:
                results = [flow.stop() for flow in flows]
    for result in results:
        assert result.errors == 0, result.summary()
        assert set(result.by_status) == {200}, result.summary()
    assert min(during) >= 25 * OUTAGE_SECONDS * 0.8, during
    print(
        f"outage {OUTAGE_SECONDS:.0f} s: {[r.total for r in results]} requests, 0 errors; "
        f"ready {ready - launched:.2f} s after launch, both proxies synced "
        f"{synced - ready:.2f} s after ready"
    )


# --- the state file cannot grow -------------------------------------------------------------


def _file_size_limit(pid: int, limit: int) -> None:
    """Limit how large any file the process writes may grow (as root, of another process)."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_a_full_disk_refuses_writes_clearly_and_serving_goes_on(mesh: Mesh) -> None:
    server = mesh.serve()
    with server:
        envoy = envoy_for(server.xds_port, "full-disk", mesh.workdir / "envoy")
        with envoy:
            assert put_weights(server.admin_url, {"stable": 80, "canary": 20}).status == 200
            wait_until(lambda: envoy_route_weights(envoy) == {STABLE: 80, CANARY: 20}, 5, "80/20")
            assert scrape(server.admin_url, "breakwater_store_available") == 1

            _file_size_limit(server.pid, 0)  # every write past byte 0 of any file: EFBIG
            refused = put_weights(server.admin_url, {"stable": 10, "canary": 90})
            assert refused.status == 503, refused.text
            assert refused.body["error"].startswith("the write was not saved: cannot write")
            reset = http("DELETE", f"{server.admin_url}/v1/routes/payments/weights")
            assert reset.status == 503, reset.text

            # Reads, traffic and the config Envoy holds are untouched.
            weights = http("GET", f"{server.admin_url}/v1/routes/payments/weights")
            assert (weights.status, weights.body["weights"]) == (200, {"stable": 80, "canary": 20})
            assert envoy_route_weights(envoy) == {STABLE: 80, CANARY: 20}
            # Envoy shows a route before its ACK has reached the server; wait for the ACK.
            wait_until(lambda: proxy_synced(server.admin_url, "full-disk"), 5, "proxy synced")
            assert all(_traffic_ok(mesh.policies.url()) for _ in range(20))
            # Status and metrics say why.
            status = http("GET", f"{server.admin_url}/v1/status").body
            assert status["store_error"] and "cannot write the state file" in status["store_error"]
            assert status["store"]["available"] is False
            assert status["store"]["error"] == status["store_error"]
            assert scrape(server.admin_url, "breakwater_store_available") == 0
            assert scrape(server.admin_url, "breakwater_store_write_failures_total") == 2
            assert http("GET", f"{server.admin_url}/readyz").status == 200
            assert "refused a write" in server.log_tail()

            _file_size_limit(server.pid, resource.RLIM_INFINITY)  # space again
            accepted = put_weights(server.admin_url, {"stable": 10, "canary": 90})
            assert accepted.status == 200, accepted.text
            wait_until(lambda: envoy_route_weights(envoy) == {STABLE: 10, CANARY: 90}, 5, "10/90")
            status = http("GET", f"{server.admin_url}/v1/status").body
            assert status["store_error"] is None and status["store"]["available"] is True
            assert scrape(server.admin_url, "breakwater_store_available") == 1
            assert scrape(server.admin_url, "breakwater_store_write_failures_total") == 2
    # And what was written before and after the fault is on disk.
    with mesh.serve("restarted") as again:
        weights = http("GET", f"{again.admin_url}/v1/routes/payments/weights").body
        assert weights["weights"] == {"stable": 10, "canary": 90}


def test_serve_refuses_to_start_on_a_state_directory_it_cannot_write(mesh: Mesh) -> None:
    server = ServeProcess(
        mesh.policies.path,
        mesh.workdir / "empty-state",
        mesh.workdir / "no-space.log",
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY)),
    )
    with pytest.raises(AssertionError, match="exited with 1"):
        server.start(timeout=15)
    log = server.log_tail()
    assert "cannot open the state file" in log and "The disk may be full" in log, log
    assert "corrupt" not in log  # before: it advised moving a healthy file away


# --- SIGTERM ------------------------------------------------------------------------------------


def test_sigterm_stops_cleanly_while_envoy_keeps_serving(mesh: Mesh) -> None:
    server = mesh.serve()
    with server:
        envoy = envoy_for(server.xds_port, "sigterm", mesh.workdir / "envoy")
        with envoy:
            wait_until(lambda: _traffic_ok(mesh.policies.url()), 10, "traffic")
            flow = ContinuousTraffic(mesh.policies.url(), rate=50, timeout=2.0, max_duration=30)
            with flow:
                flow.wait_for(25)
                written = put_weights(server.admin_url, {"stable": 66, "canary": 34})
                assert written.status == 200
                wait_until(
                    lambda: envoy_route_weights(envoy) == {STABLE: 66, CANARY: 34}, 5, "66/34"
                )
                code, took = server.terminate(timeout=STOP_SECONDS + 5)
                stopped_at = flow.completed
                wait_until(
                    lambda: (
                        envoy.stats("control_plane.connected_state").get(
                            "control_plane.connected_state"
                        )
                        == 0
                    ),
                    5,
                    "Envoy to notice the control plane is gone",
                )
                flow.wait_for(stopped_at + 50)
                result = flow.stop()
            assert envoy_route_weights(envoy) == {STABLE: 66, CANARY: 34}
    assert code == 0, server.log_tail()
    assert took < STOP_SECONDS, f"exit took {took:.2f} s"
    for port in (server.xds_port, server.admin_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert result.errors == 0 and set(result.by_status) == {200}, result.summary()
    log = server.log_tail()
    assert "stopping" in log and "Traceback" not in log
    with mesh.serve("after-sigterm") as again:
        weights = http("GET", f"{again.admin_url}/v1/routes/payments/weights").body
        assert (weights["weights"], weights["revision"]) == (
            {"stable": 66, "canary": 34},
            written.body["revision"],
        )
    print(f"SIGTERM: exit code {code} after {took:.2f} s; {result.total} requests, 0 errors")
