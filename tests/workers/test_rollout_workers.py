"""A Rollout with `serve --workers 2`: it advances step by step on the ACKs the parent mirrors
from the worker serving the Envoy, judged by the Envoy's reports relayed through a worker, and
is promoted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from breakwater.client import http
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.traffic import ContinuousTraffic
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.support.envoy import envoy_for, envoy_route_weights
from tests.support.policies import CANARY, STABLE, PolicyDir, SplitRoute, rollout_document
from tests.support.workers import worker_serving

NODE_ID = "rollout-worker"
FLUSH = 1.0
ANALYSIS = """\
  analysis:
    interval: 2s
    minRequests: 10
    failureLimit: 1
    successRate: {min: 95}
"""


def _rollout(serve: ServeProcess) -> dict[str, Any]:
    reply = http("GET", f"{serve.admin_url}/v1/rollouts/payments", timeout=5.0)
    assert reply.status == 200, reply.text
    answer: dict[str, Any] = reply.body
    return answer


def test_a_rollout_advances_on_mirrored_acks_and_is_promoted(
    tmp_path: Path, upstreams: tuple[UpstreamServer, UpstreamServer]
) -> None:
    stable, canary = upstreams
    policies = PolicyDir.create(
        tmp_path / "policies",
        stable.port,
        canary.port,
        routes=[SplitRoute(weights={"stable": 100, "canary": 0})],
    )
    steps = "    - setWeight: 20\n    - setWeight: 50\n    - setWeight: 100\n"
    policies.replace(policies.path / "rollouts.yaml", rollout_document(steps, ANALYSIS))
    serve = ServeProcess(
        policies.path,
        tmp_path / "state",
        tmp_path / "serve.log",
        extra_args=["--workers", "2", "--load-report-interval", f"{FLUSH:g}"],
    ).start()
    envoy = envoy_for(serve.xds_port, NODE_ID, stats_flush_interval=f"{FLUSH:g}s")
    try:
        envoy.start()
        assert envoy.pid is not None
        assert worker_serving(serve.pid, envoy.pid, serve.xds_port) is not None
        with ContinuousTraffic(policies.url(), rate=60, timeout=2.0, max_duration=60) as traffic:
            done = wait_until(
                lambda: (current := _rollout(serve))["phase"] == "Promoted" and current,
                45,
                "the rollout to be promoted",
                interval=0.1,
            )
            result = traffic.snapshot()
        messages = [e["message"] for e in done["history"]]
        for step in range(3):
            assert f"step {step} holds on every proxy" in messages, messages
        assert envoy_route_weights(envoy) == {STABLE: 0, CANARY: 100}
        assert result.server_errors == 0, result.summary()
    finally:
        envoy.cleanup()
        serve.stop()
