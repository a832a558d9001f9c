"""A real Envoy served by an xDS worker of `serve --workers 2`: it holds the config, follows
weight writes through the API, and rides out a `kill -9` of its worker with every request
answered, its ADS stream reconnected to another worker and synced there."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from breakwater.client import http
from breakwater.devtools.prometheus import metric_sum, metrics_text
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.traffic import ContinuousTraffic
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.support.admin import proxy_synced, put_weights
from tests.support.envoy import envoy_for, envoy_route_weights
from tests.support.policies import PolicyDir
from tests.support.workers import worker_pids, worker_serving

NODE_ID = "edge-worker"
AFTER_KILL_REQUESTS = 150


def _synced_since(admin_url: str, node_id: str, since: float) -> bool:
    """Whether the proxy's stream opened after `since` (epoch seconds) is synced."""
    proxies = http("GET", f"{admin_url}/v1/status", timeout=2.0).body["proxies"]
    return any(
        p["node_id"] == node_id and p["synced"] and p["connected_at"] > since for p in proxies
    )


def _change_to_ack_count(admin_url: str) -> float:
    return metric_sum(metrics_text(admin_url), "breakwater_change_to_ack_seconds_count")


def test_envoy_follows_writes_and_rides_out_kill_9_of_its_worker(
    tmp_path: Path, upstreams: tuple[UpstreamServer, UpstreamServer]
) -> None:
    stable, canary = upstreams
    policies = PolicyDir.create(tmp_path / "policies", stable.port, canary.port)
    serve = ServeProcess(
        policies.path, tmp_path / "state", tmp_path / "serve.log", extra_args=["--workers", "2"]
    ).start()
    envoy = envoy_for(serve.xds_port, NODE_ID)
    traffic: ContinuousTraffic | None = None
    try:
        assert len(worker_pids(serve.pid)) == 2
        envoy.start()
        url = serve.admin_url
        wait_until(lambda: proxy_synced(url, NODE_ID), 15, "Envoy to sync through a worker")
        assert envoy.pid is not None
        traffic = ContinuousTraffic(policies.url(), rate=150, timeout=5.0).start()
        traffic.wait_for(30)

        # A write through the API reaches Envoy through its worker; the parent times it
        # from the mirrored ACKs.
        timed = _change_to_ack_count(url)
        assert put_weights(url, {"stable": 30, "canary": 70}).status == 200
        envoy.wait_for(
            lambda: envoy_route_weights(envoy) == {"payments|stable": 30, "payments|canary": 70},
            10,
            "Envoy to hold the written weights",
        )
        wait_until(
            lambda: _change_to_ack_count(url) > timed, 10, "the change to be timed to its ACK"
        )

        victim = worker_serving(serve.pid, envoy.pid, serve.xds_port)
        assert victim is not None, "no worker holds Envoy's connection"
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        at_kill = traffic.completed

        wait_until(
            lambda: _synced_since(url, NODE_ID, killed_at),
            30,
            "Envoy's new ADS stream to be synced",
        )
        serving = worker_serving(serve.pid, envoy.pid, serve.xds_port)
        assert serving is not None and serving != victim
        wait_until(
            lambda: len(worker_pids(serve.pid)) == 2 and victim not in worker_pids(serve.pid),
            30,
            "the killed worker to be replaced",
        )
        # The old stream is gone from the status: one stream for the one Envoy.
        proxies = http("GET", f"{url}/v1/status").body["proxies"]
        assert [p["node_id"] for p in proxies].count(NODE_ID) == 1

        # It follows the next write on its new worker.
        assert put_weights(url, {"stable": 80, "canary": 20}).status == 200
        envoy.wait_for(
            lambda: envoy_route_weights(envoy) == {"payments|stable": 80, "payments|canary": 20},
            10,
            "Envoy to hold the weights written after the kill",
        )
        traffic.wait_for(at_kill + AFTER_KILL_REQUESTS, timeout=30)
        result = traffic.stop()
        traffic = None
        assert result.errors == 0, result.summary()
        assert result.server_errors == 0, result.summary()
        assert result.by_status.keys() == {200}, result.by_status
        assert result.total >= 30 + AFTER_KILL_REQUESTS
    finally:
        if traffic is not None:
            traffic.stop()
        envoy.cleanup()
        serve.stop()
