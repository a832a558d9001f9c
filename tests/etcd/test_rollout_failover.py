"""A Rollout on two replicas sharing etcd: the holder of its claim drives it; kill -9 it and
the other replica takes the claim once the dead one's lease runs out, and goes on from the
step the first one saved.

Real parts throughout: etcd, two `breakwater serve` processes, one Envoy whose bootstrap
lists both replicas and which reports its stats every second, stable and canary
upstreams, and traffic through the Envoy the whole time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import aetcd  # type: ignore[import-untyped]

from breakwater.controlplane.rollouts.driver import CLAIM_SECONDS
from breakwater.controlplane.state.replicas import LEASE_TTL
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.etcd.fleet import Fleet, ReplicaProcess
from tests.support.envoy import envoy_for

FLUSH = 1.0
"""Seconds between the proxy's stats flushes and load reports (the analysis needs fresh ones)."""
NAME = "payments"
GATEWAY = "edge-a"
NODE_ID = "edge-a-1"
PREFIX = "/fleet"
"""The prefix of `Fleet.state`."""
LEADER_KEY = f"{PREFIX}/leaders/rollout%2F{NAME}".encode()

ROLLOUT_YAML = """\
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {name: payments}
spec:
  routeRef: {name: payments, rule: 0}
  stable: stable
  canary: canary
  steps:
    - setWeight: 10
    - pause: {duration: 3s}
    - setWeight: 30
    - pause: {duration: 3s}
    - setWeight: 60
    - pause: {duration: 3s}
    - setWeight: 100
  analysis:
    interval: 2s
    minRequests: 10
    failureLimit: 1
    successRate: {min: 95}
"""
LAST_STEP = 6


class ReportingReplica(ReplicaProcess):
    """A replica that asks its proxies for load reports every FLUSH seconds."""

    def __init__(self, name: str, fleet: Fleet) -> None:
        super().__init__(name, fleet.policies.path, fleet.state, fleet.workdir)
        self.command.extend(["--load-report-interval", f"{FLUSH:g}"])

    def rollout(self) -> dict[str, Any]:
        code, body = self.get(f"/v1/rollouts/{NAME}")
        assert code == 200, body
        result: dict[str, Any] = body
        return result

    def replica_id(self) -> str:
        return str(next(r["id"] for r in self.status()["replicas"] if r["self"]))


def _replica(fleet: Fleet, name: str) -> ReportingReplica:
    replica = ReportingReplica(name, fleet)
    fleet.replicas.append(replica)
    return replica


def _envoy(fleet: Fleet, xds: list[ReplicaProcess]) -> EnvoyProcess:
    """An Envoy for `edge-a` listing these replicas, flushing its stats every FLUSH seconds."""
    envoy = envoy_for(
        [replica.xds_port for replica in xds],
        NODE_ID,
        fleet.workdir / NODE_ID,
        cluster=GATEWAY,
        log_level="warn",
        connect_timeout="0.25s",
        stats_flush_interval=f"{FLUSH:g}s",
    )
    fleet.envoys.append(envoy)
    envoy.start()
    wait_until(lambda: fleet.split(GATEWAY, 5) is not None, 10.0, f"{GATEWAY} serving")
    return envoy


def _leader(etcd: EtcdServer) -> str | None:
    """The replica id under the rollout's claim key, None while nobody holds it."""

    async def read() -> str | None:
        async with aetcd.Client(host=LOOPBACK, port=etcd.client_port, timeout=2) as client:
            found = await client.get(LEADER_KEY)
            return None if found is None else bytes(found.value).decode()

    return asyncio.run(read())


class Trail:
    """Polls one replica's view of the rollout in the background and keeps every change."""

    def __init__(self, replica: ReportingReplica) -> None:
        self._replica = replica
        self.seen: list[tuple[float, str, int, int]] = []
        """(monotonic time, phase, step, canary weight), one entry per change."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollout-trail", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self._replica.rollout()
            except (OSError, AssertionError):
                status = None
            if status is not None:
                entry = (status["phase"], status["step"], status["canary_weight"])
                if not self.seen or self.seen[-1][1:] != entry:
                    self.seen.append((time.monotonic(), *entry))
            self._stop.wait(0.1)

    def start(self) -> Trail:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def steps(self) -> list[int]:
        return [step for _, _, step, _ in self.seen]


def _first_times(
    conditions: dict[str, Callable[[], bool]], since: float, timeout: float
) -> dict[str, float]:
    """Seconds from `since` until each condition first held, polled together."""
    found: dict[str, float] = {}
    while len(found) < len(conditions):
        now = time.monotonic()
        missing = [what for what in conditions if what not in found]
        assert now - since < timeout, f"after {timeout} s still waiting for {missing}"
        for what in missing:
            if conditions[what]():
                found[what] = now - since
        time.sleep(0.05)
    return found


def _wait_rollout(
    replica: ReportingReplica, done: Callable[[dict[str, Any]], bool], timeout: float, what: str
) -> dict[str, Any]:
    def reached() -> dict[str, Any]:
        current = replica.rollout()
        return current if done(current) else {}

    try:
        return wait_until(reached, timeout, what, interval=0.05)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{replica.rollout()}") from None


def test_the_surviving_replica_takes_the_rollout_over_and_promotes_it(fleet: Fleet) -> None:
    a = _replica(fleet, "a").start()
    b = _replica(fleet, "b")  # in the Envoy's bootstrap before it runs, so the Envoy is on a
    _envoy(fleet, [a, b])
    wait_until(lambda: a.proxies() == {NODE_ID}, 5.0, "the proxy on replica a")

    with fleet.continuous(GATEWAY, max_duration=150.0) as traffic:
        traffic.wait_for(100)
        fleet.policies.replace(fleet.policies.path / "rollouts.yaml", ROLLOUT_YAML)
        _wait_rollout(a, lambda s: s["phase"] == "Progressing", 10.0, "the rollout started")
        b.start()
        a_id, b_id = a.replica_id(), b.replica_id()
        assert a_id != b_id
        assert _leader(fleet.etcd) == a_id, "replica a, alone when the rollout began, drives it"
        wait_until(lambda: b.rollout()["phase"] == "Progressing", 5.0, "b following the rollout")

        trail = Trail(b).start()
        try:
            # Mid-rollout: in the timed pause after 30 %, with three steps still to go.
            before = _wait_rollout(a, lambda s: s["step"] == 3, 40.0, "the pause after 30 %")
            assert _leader(fleet.etcd) == a_id, "the claim moved while a was alive"
            assert b.proxies() == set(), "the Envoy is on a, not b"
            a.kill9()
            killed_at = time.monotonic()
            killed_wall = time.time()

            after = _first_times(
                {
                    "b claiming the rollout": lambda: _leader(fleet.etcd) == b_id,
                    "the Envoy reconnecting to b": lambda: b.proxies() == {NODE_ID},
                },
                killed_at,
                LEASE_TTL + 10.0,
            )
            takeover = after["b claiming the rollout"]
            reconnect = after["the Envoy reconnecting to b"]

            done = _wait_rollout(
                b, lambda s: s["phase"] not in ("Progressing", "Paused"), 60.0, "the end"
            )
            finished = time.monotonic() - killed_at
            fleet.wait_split(GATEWAY, 1.0, timeout=5.0)
            traffic.wait_for(traffic.completed + 50)
        finally:
            trail.stop()
    result = traffic.result

    assert done["phase"] == "Promoted", done
    assert (done["step"], done["canary_weight"]) == (LAST_STEP + 1, 100), done
    assert b.weights()["weights"] == {"stable": 0, "canary": 100}

    # b went on from where a was: the history a wrote is kept, nothing before step 3 again.
    history = done["history"]
    kept = before["history"]
    assert history[: len(kept)] == kept
    by_b = [e for e in history if e["at"] > killed_wall]
    assert by_b, history
    assert all(e["step"] >= before["step"] for e in by_b), by_b
    assert [e["message"] for e in history].count("started") == 1
    assert [e["step"] for e in history] == sorted(e["step"] for e in history)
    first_by_b = by_b[0]["at"] - killed_wall

    # What b served meanwhile never went back.
    steps = trail.steps()
    assert steps == sorted(steps), trail.seen
    assert steps[-1] == LAST_STEP + 1 and before["step"] in steps, trail.seen
    weights = [weight for _, _, _, weight in trail.seen]
    assert weights == sorted(weights), trail.seen
    assert not {phase for _, phase, _, _ in trail.seen} & {"RolledBack", "Aborted"}, trail.seen

    # The claim changed hands once a's lease ran out: not long after (etcd expires leases
    # every half second or so, b asks for the claim once a second, and its turns).
    assert takeover < LEASE_TTL + CLAIM_SECONDS + 2.0, takeover
    # The Envoy kept serving, through the kill and the reconnection.
    assert result.ok == result.total, result.summary()
    print(
        f"a ({a_id}) drove to step {before['step']} ({before['canary_weight']} %) and was "
        f"killed; b ({b_id}) held the claim after {takeover:.1f} s, the Envoy on b after "
        f"{reconnect:.1f} s, b's first step event after {first_by_b:.1f} s, Promoted after "
        f"{finished:.1f} s; steps seen on b: {sorted(set(steps))}; "
        f"{result.total} requests, 0 errors"
    )
