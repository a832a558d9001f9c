"""A Rollout survives kill -9 of `breakwater serve`: it goes on from the progress on disk.

A real `serve` process with its embedded state directory, a real Envoy that reports
its stats and load every second, real stable and canary upstreams, and traffic through
the Envoy all along, so that every analysis interval judges real numbers. The state
file is read while the server is down (with the store's own reader), so each test
knows exactly what the restarted server has to go on from. One test freezes the Envoy
(SIGSTOP) so that the kill lands between writing a step and the proxy acknowledging it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from breakwater.client import http
from breakwater.controlplane.rollouts.driver import RECONNECT_GRACE
from breakwater.controlplane.state.store import SqliteStore, StoreState
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.traffic import ContinuousTraffic, send_requests
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.support.admin import proxy_synced
from tests.support.envoy import envoy_for, envoy_route_weights
from tests.support.policies import CANARY, STABLE, PolicyDir, SplitRoute

FLUSH = 1.0
"""Seconds between the proxy's stats flushes and load reports (the analysis needs fresh ones)."""
INTERVAL = 2.0
"""The Rollout's analysis interval."""
RATE = 60.0
"""Requests per second through the Envoy while a test runs."""
NODE_ID = "rollout-faults"
NAME = "payments"

ROLLOUT_YAML = """\
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {{name: payments}}
spec:
  routeRef: {{name: payments, rule: split}}
  stable: stable
  canary: canary
  steps:
{steps}
  analysis:
    interval: {interval:g}s
    minRequests: 10
    failureLimit: 1
    successRate: {{min: 95}}
"""


class Stage:
    """Upstreams, the shared policies (the split starting at 100/0) with one Rollout, `serve`
    on a state directory, and an Envoy reporting every FLUSH seconds."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.stable = UpstreamServer(service="payments", subset="stable", instance="stable")
        self.canary = UpstreamServer(service="payments", subset="canary", instance="canary")
        self.policies: PolicyDir | None = None
        self.serve: ServeProcess | None = None
        self.envoy: EnvoyProcess | None = None

    def start(self, steps: list[str]) -> ServeProcess:
        """Write the policies with these Rollout steps (YAML flow mappings), start everything."""
        self.stable.start()
        self.canary.start()
        self.policies = PolicyDir.create(
            self.workdir / "policies",
            self.stable.port,
            self.canary.port,
            routes=[SplitRoute(weights={"stable": 100, "canary": 0})],
        )
        self.policies.replace(
            self.policies.path / "rollouts.yaml",
            ROLLOUT_YAML.format(
                steps="\n".join(f"    - {step}" for step in steps), interval=INTERVAL
            ),
        )
        self.serve = ServeProcess(
            self.policies.path,
            self.state_dir,
            self.workdir / "serve.log",
            extra_args=["--load-report-interval", f"{FLUSH:g}"],
        ).start()
        self.envoy = envoy_for(
            self.serve.xds_port,
            NODE_ID,
            self.workdir / "envoy",
            log_level="warn",
            stats_flush_interval=f"{FLUSH:g}s",
        )
        self.envoy.start()
        wait_until(lambda: self.split(10) is not None, 10.0, "traffic through the Envoy")
        return self.serve

    @property
    def url(self) -> str:
        assert self.policies is not None
        return self.policies.url()

    @property
    def admin_url(self) -> str:
        assert self.serve is not None
        return self.serve.admin_url

    def traffic(self, max_duration: float) -> ContinuousTraffic:
        return ContinuousTraffic(self.url, rate=RATE, timeout=2.0, max_duration=max_duration)

    def split(self, count: int) -> float | None:
        """Share of `count` requests that reached the canary; None when any failed."""
        result = send_requests(self.url, count, concurrency=4, timeout=2.0)
        return result.subset_fraction("canary") if result.ok == count else None

    def envoy_weights(self) -> dict[str, int]:
        assert self.envoy is not None
        return envoy_route_weights(self.envoy)

    def rollout(self) -> dict[str, Any]:
        reply = http("GET", f"{self.admin_url}/v1/rollouts/{NAME}", timeout=5.0)
        assert reply.status == 200, reply.text
        answer: dict[str, Any] = reply.body
        return answer

    def wait_rollout(
        self, done: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any]:
            current = self.rollout()
            return current if done(current) else {}

        try:
            return wait_until(reached, timeout, what, interval=0.05)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.rollout()}") from None

    def weights(self) -> dict[str, Any]:
        reply = http("GET", f"{self.admin_url}/v1/routes/{NAME}/weights", timeout=5.0)
        assert reply.status == 200, reply.text
        answer: dict[str, Any] = reply.body
        return answer

    def saved(self) -> StoreState:
        """What the state directory holds, read while no server runs on it."""
        return asyncio.run(_load(self.state_dir))

    def close(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        if self.serve is not None:
            self.serve.stop()
        self.stable.stop()
        self.canary.stop()


async def _load(state_dir: Path) -> StoreState:
    store = SqliteStore(state_dir)
    try:
        return await store.load()
    finally:
        await store.close()


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    built = Stage(tmp_path)
    try:
        yield built
    finally:
        built.close()


def _progress(status: dict[str, Any]) -> tuple[str, int, int]:
    return status["phase"], status["step"], status["canary_weight"]


def _events(history: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [(e["step"], e["canary_weight"], e["message"]) for e in history]


def _assert_moves_only_forward(history: list[dict[str, Any]]) -> None:
    """Started once, and no event ever at a lower step or a lower canary weight than before."""
    assert [e["message"] for e in history].count("started") == 1, _events(history)
    steps = [e["step"] for e in history]
    weights = [e["canary_weight"] for e in history]
    assert steps == sorted(steps), _events(history)
    assert weights == sorted(weights), _events(history)


def test_kill_9_while_paused_comes_back_paused_at_the_same_step_and_weights(
    stage: Stage,
) -> None:
    """Paused at `pause: {}` with 40 % on the canary, SIGKILL: Envoy keeps the split, and
    the restarted server is still paused there, same weights (not written again), same
    history, until `promote` takes it to 100 %."""
    server = stage.start(["setWeight: 20", "setWeight: 40", "pause: {}", "setWeight: 100"])
    with stage.traffic(max_duration=120) as traffic:
        paused = stage.wait_rollout(lambda s: s["phase"] == "Paused", 40.0, "the open pause")
        assert _progress(paused) == ("Paused", 2, 40), paused
        before = stage.weights()
        assert (before["source"], before["weights"]) == ("override", {"stable": 60, "canary": 40})
        assert stage.envoy_weights() == {STABLE: 60, CANARY: 40}

        server.kill9()
        killed_at = time.time()
        saved = stage.saved()
        progress = saved.rollouts[NAME]
        assert _progress(progress) == ("Paused", 2, 40), progress
        assert progress["history"] == paused["history"]
        assert saved.overrides[(NAME, 0)].weights == {"stable": 60, "canary": 40}

        # Without its control plane the Envoy keeps sending the paused step's share.
        during = send_requests(stage.url, 200, concurrency=4, timeout=2.0)
        assert during.ok == 200, during.summary()
        assert 0.25 <= during.subset_fraction("canary") <= 0.55, during.summary()
        assert stage.envoy_weights() == {STABLE: 60, CANARY: 40}

        server.start()
        restarted_at = time.time()
        resumed = stage.rollout()
        assert _progress(resumed) == ("Paused", 2, 40), resumed
        assert resumed["history"] == paused["history"]
        after = stage.weights()
        assert after == before, "the restart wrote the weights again"
        wait_until(lambda: proxy_synced(stage.admin_url, NODE_ID), 10.0, "the Envoy synced again")

        # The restarted server judges the paused canary from fresh reports and still waits.
        judged = stage.wait_rollout(
            lambda s: (
                (s["last_analysis"] or {}).get("at", 0) > restarted_at + INTERVAL
                and s["last_analysis"]["verdict"] == "passed"
            ),
            4 * INTERVAL + 3 * FLUSH,
            "a passing judgement by the restarted server",
        )
        assert _progress(judged) == ("Paused", 2, 40), judged
        assert judged["history"] == paused["history"]
        assert stage.envoy_weights() == {STABLE: 60, CANARY: 40}

        promoted = http("POST", f"{stage.admin_url}/v1/rollouts/{NAME}/promote", timeout=5.0)
        assert promoted.status == 200, promoted.text
        assert (promoted.body["step"], promoted.body["canary_weight"]) == (3, 100), promoted.body
        wait_until(lambda: stage.envoy_weights() == {STABLE: 0, CANARY: 100}, 5.0, "Envoy at 0/100")
        done = stage.wait_rollout(
            lambda s: s["phase"] == "Promoted", 6 * INTERVAL, "the rollout to be Promoted"
        )
        last = send_requests(stage.url, 50, concurrency=4, timeout=2.0)
    result = traffic.result
    assert last.by_subset == {"canary": 50}, last.summary()
    assert done["history"][: len(paused["history"])] == paused["history"]
    _assert_moves_only_forward(done["history"])
    # Envoy answered every request, through the kill and the restart.
    assert result.ok == result.total and result.total > RATE * 10, result.summary()
    print(
        f"paused at step 2 (40 %), killed, down {restarted_at - killed_at:.1f} s, still "
        f"paused; promoted after {len(done['history'])} events; {result.total} requests, 0 errors"
    )


def test_kill_9_between_weight_steps_goes_on_from_that_step_and_promotes(stage: Stage) -> None:
    """Killed while Progressing at a middle weight step: the restarted server goes on from
    the step on disk (never entering an earlier one again) and promotes."""
    server = stage.start(["setWeight: 20", "setWeight: 40", "setWeight: 60", "setWeight: 100"])
    with stage.traffic(max_duration=120) as traffic:
        held = stage.wait_rollout(
            lambda s: s["step"] == 1 and not s["awaiting_ack"] and s["phase"] == "Progressing",
            40.0,
            "step 1 (40 %) held on the Envoy",
        )
        server.kill9()
        killed_at = time.time()
        saved = stage.saved()
        progress = saved.rollouts[NAME]
        # The step may have moved on between the last read and the kill; the file holds all of it.
        assert progress["history"][: len(held["history"])] == held["history"]
        assert progress["phase"] == "Progressing" and 1 <= progress["step"] <= 2, progress
        stored = saved.overrides[(NAME, 0)].weights
        assert stored["canary"] in (40, 60), stored

        during = send_requests(stage.url, 100, concurrency=4, timeout=2.0)
        assert during.ok == 100, during.summary()

        server.start()
        restarted_at = time.time()
        resumed = stage.rollout()
        assert resumed["history"][: len(progress["history"])] == progress["history"], resumed
        assert resumed["step"] >= progress["step"], resumed
        done = stage.wait_rollout(
            lambda s: s["phase"] == "Promoted", 40.0, "the rollout to be Promoted"
        )
        wait_until(lambda: stage.envoy_weights() == {STABLE: 0, CANARY: 100}, 5.0, "Envoy at 0/100")
        last = send_requests(stage.url, 50, concurrency=4, timeout=2.0)
    result = traffic.result
    assert last.by_subset == {"canary": 50}, last.summary()
    history = done["history"]
    assert history[: len(progress["history"])] == progress["history"]
    _assert_moves_only_forward(history)
    after_restart = history[len(progress["history"]) :]
    assert after_restart and all(e["step"] >= progress["step"] for e in after_restart), _events(
        history
    )
    entered = [e["step"] for e in history if ": canary weight" in e["message"]]
    assert entered == [0, 1, 2, 3], _events(history)
    assert result.ok == result.total, result.summary()
    print(
        f"killed at step {progress['step']} ({progress['canary_weight']} %), down "
        f"{restarted_at - killed_at:.1f} s, Promoted; steps entered {entered}; "
        f"{result.total} requests, 0 errors"
    )


def test_kill_9_before_the_proxy_acknowledged_a_step_waits_for_the_proxy_to_be_back(
    stage: Stage,
) -> None:
    """The step is saved and its weights written, but the Envoy has not acknowledged them
    (it is frozen with SIGSTOP) when the server dies. Restarted while the Envoy is still
    frozen, the server does not count the step as held on a fleet it cannot see yet: it
    waits until the Envoy is back and holds the new weights, then judges and promotes."""
    server = stage.start(
        ["setWeight: 20", "pause: {duration: 6s}", "setWeight: 40", "setWeight: 100"]
    )
    assert stage.envoy is not None
    envoy_pid = stage.envoy.pid
    assert envoy_pid is not None
    with stage.traffic(max_duration=60) as before_freeze:
        pausing = stage.wait_rollout(lambda s: s["step"] == 1, 30.0, "the timed pause after 20 %")
        pause_began = pausing["history"][-1]["at"]
        # Judged once during the pause: all it needs now is its six seconds.
        stage.wait_rollout(
            lambda s: (
                (s["last_analysis"] or {}).get("at", 0) > pause_began
                and s["last_analysis"]["verdict"] == "passed"
            ),
            4 * INTERVAL,
            "a passing judgement in the pause",
        )
    assert before_freeze.result.ok == before_freeze.result.total, before_freeze.result.summary()
    os.kill(envoy_pid, signal.SIGSTOP)
    frozen = True
    try:
        awaiting = stage.wait_rollout(
            lambda s: s["step"] == 2, 10.0, "step 2 (40 %) written while the Envoy is frozen"
        )
        assert awaiting["awaiting_ack"], awaiting
        wait_until(
            lambda: stage.weights()["weights"] == {"stable": 60, "canary": 40},
            5.0,
            "the step's weights saved",
        )
        server.kill9()
        progress = stage.saved().rollouts[NAME]
        assert (progress["step"], progress["canary_weight"], progress["awaiting_ack"]) == (
            2,
            40,
            True,
        )

        server.start()
        # Well inside the grace a restarted driver gives proxies to come back.
        watched_until = time.monotonic() + RECONNECT_GRACE / 3
        while time.monotonic() < watched_until:
            current = stage.rollout()
            assert (current["step"], current["awaiting_ack"]) == (2, True), (
                "the restarted server counted the step before any proxy was back",
                _events(current["history"]),
            )
            time.sleep(0.1)
        continued_at = time.time()
        os.kill(envoy_pid, signal.SIGCONT)
        frozen = False
    finally:
        if frozen:
            os.kill(envoy_pid, signal.SIGCONT)
    traffic = stage.traffic(max_duration=60).start()
    try:
        held = stage.wait_rollout(
            lambda s: s["step"] > 2 or not s["awaiting_ack"], 10.0, "step 2 held on the Envoy"
        )
        hold = next(e for e in held["history"] if e["message"] == "step 2 holds on every proxy")
        assert hold["at"] >= continued_at, (hold, continued_at)
        assert proxy_synced(stage.admin_url, NODE_ID)
        done = stage.wait_rollout(
            lambda s: s["phase"] == "Promoted", 6 * INTERVAL, "the rollout to be Promoted"
        )
        wait_until(lambda: stage.envoy_weights() == {STABLE: 0, CANARY: 100}, 5.0, "Envoy at 0/100")
    finally:
        result = traffic.stop()
    _assert_moves_only_forward(done["history"])
    entered = [e["step"] for e in done["history"] if ": canary weight" in e["message"]]
    assert entered == [0, 2, 3], _events(done["history"])
    assert result.ok == result.total, result.summary()
    print(
        f"step 2 held {hold['at'] - continued_at:.1f} s after the frozen Envoy was let go, "
        "not at the restart; Promoted"
    )
