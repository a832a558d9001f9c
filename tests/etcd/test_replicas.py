"""Two replicas on one etcd with real Envoys: shared writes, a replica killed, etcd stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from functools import partial
from typing import Any

from breakwater.devtools.prometheus import metric
from breakwater.devtools.waiting import wait_until
from tests.etcd.fleet import Fleet, ReplicaProcess

ALL_STABLE = {"stable": 100, "canary": 0}
ALL_CANARY = {"stable": 0, "canary": 100}
OUTAGE_SECONDS = float(os.environ.get("BREAKWATER_ETCD_OUTAGE_SECONDS", "20"))


def _store_available(replica: ReplicaProcess, wanted: bool) -> bool:
    return bool(replica.store()["available"]) is wanted


def _converged(*replicas: ReplicaProcess) -> int:
    """The state revision every replica serves, once they all serve the same one (else 0)."""
    revisions = {replica.revision() for replica in replicas}
    return revisions.pop() if len(revisions) == 1 else 0


def test_a_write_on_one_replica_moves_the_traffic_of_the_other(fleet: Fleet) -> None:
    a = fleet.replica("a").start()
    b = fleet.replica("b").start()
    fleet.envoy("edge-a", [a], "edge-a-1")
    fleet.envoy("edge-b", [b], "edge-b-1")
    assert fleet.split("edge-a") == 0.0 and fleet.split("edge-b") == 0.0

    code, written = a.put_weights(ALL_CANARY)
    assert code == 200, written
    elapsed = fleet.wait_split("edge-b", 1.0, timeout=2.0)
    assert elapsed < 2.0
    assert fleet.split("edge-a") == 1.0
    assert wait_until(lambda: _converged(a, b), 2.0, "same revision") == written["revision"]

    # And the other way round.
    code, written = b.put_weights(ALL_STABLE, expected_revision=written["revision"])
    assert code == 200, written
    assert fleet.wait_split("edge-a", 0.0, timeout=2.0) < 2.0
    assert wait_until(lambda: _converged(a, b), 2.0, "same revision") == written["revision"]
    assert a.weights() == b.weights()

    # Both replicas list each other, with the proxies each one serves.
    def listed(viewer: Any = a, other: Any = b, proxy: str = "edge-b-1") -> dict[str, Any]:
        replicas = {r["xds_address"]: r for r in viewer.status()["replicas"]}
        ready = replicas.get(other.xds_address, {}).get("proxies") == [proxy]
        return replicas if ready and len(replicas) == 2 else {}

    replicas = wait_until(listed, 3.0, "both replicas registered with their proxies")
    # Registrations refresh with each lease renewal: wait until B sees A's too.
    wait_until(lambda: listed(b, a, "edge-a-1"), 5.0, "B listing A with its proxy")
    assert replicas[a.xds_address]["proxies"] == ["edge-a-1"]
    assert replicas[a.xds_address]["self"] is True
    assert {r["policy_version"] for r in replicas.values()} == {a.status()["policy_version"]}
    assert a.status()["store"]["available"] is True

    wait_until(
        lambda: metric(a.metrics(), "breakwater_replica_skew", field="state_revision") == 0,
        3.0,
        "no revision skew",
    )
    metrics = a.metrics()
    assert metric(metrics, "breakwater_store_available") == 1
    assert metric(metrics, "breakwater_replicas") == 2
    assert metric(metrics, "breakwater_replica_skew", field="policy_version") == 0

    table = subprocess.run(
        [sys.executable, "-m", "breakwater.cli", "status", "--server", b.admin_url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "2 control plane replicas" in table
    assert "edge-a-1" in table and "edge-b-1" in table and a.xds_address in table


def test_killing_a_replica_under_traffic(fleet: Fleet) -> None:
    a = fleet.replica("a").start()
    b = fleet.replica("b")  # its address is in the bootstrap before it runs
    fleet.envoy("edge-a", [a, b], "edge-a-1")
    wait_until(lambda: a.proxies() == {"edge-a-1"}, 5.0, "the proxy on replica a")
    b.start()

    acknowledged: list[tuple[dict[str, int], int]] = []
    attempted: list[dict[str, int]] = []
    stop = threading.Event()

    def write_until_a_dies() -> None:
        step = 0
        while not stop.is_set():
            step += 1
            weights = {"stable": step % 100, "canary": 100 - step % 100}
            attempted.append(weights)
            try:
                code, body = a.put_weights(weights)
            except OSError:
                return  # a is gone: this write was never acknowledged
            if code != 200:
                return
            acknowledged.append((weights, int(body["revision"])))

    with fleet.continuous("edge-a") as traffic:
        traffic.wait_for(100)
        writer = threading.Thread(target=write_until_a_dies, daemon=True)
        writer.start()
        wait_until(lambda: len(acknowledged) >= 20, 10.0, "writes acknowledged by a")
        a.kill9()
        killed_at = time.monotonic()
        completed_at_kill = traffic.completed
        writer.join(10.0)
        stop.set()
        assert acknowledged, "no write was acknowledged before the kill"

        # Nothing replica a acknowledged is lost: b reads it (or the write that was in
        # flight at the kill, if etcd committed that one).
        last_weights, last_revision = acknowledged[-1]
        view = b.weights()
        assert view["revision"] >= last_revision
        if view["revision"] == last_revision:
            assert view["weights"] == last_weights
        else:
            assert view["weights"] == attempted[-1]

        # The proxy's xDS stream fails over to b, which then drives it.
        wait_until(lambda: b.proxies() == {"edge-a-1"}, 15.0, "the proxy reconnecting to b")
        failover = time.monotonic() - killed_at
        code, written = b.put_weights(ALL_CANARY)
        assert code == 200, written
        fleet.wait_split("edge-a", 1.0, timeout=3.0)
        traffic.wait_for(max(traffic.completed + 50, completed_at_kill + 200))
    result = traffic.result
    assert result.total >= completed_at_kill + 200
    assert result.ok == result.total, result.summary()

    # a's lease runs out and it leaves the list.
    wait_until(lambda: len(b.status()["replicas"]) == 1, 8.0, "the dead replica dropping out")
    assert metric(b.metrics(), "breakwater_replicas") == 1
    assert failover < 15.0


def test_etcd_stopped(fleet: Fleet) -> None:
    a = fleet.replica("a").start()
    b = fleet.replica("b").start()
    fleet.envoy("edge-a", [a], "edge-a-1")
    envoy_b = fleet.envoy("edge-b", [b], "edge-b-1")
    code, written = a.put_weights(ALL_CANARY)
    assert code == 200, written
    fleet.wait_split("edge-b", 1.0, timeout=2.0)
    before = wait_until(lambda: _converged(a, b), 2.0, "same revision")

    with fleet.continuous("edge-a", max_duration=OUTAGE_SECONDS + 30) as traffic:
        traffic.wait_for(50)
        fleet.etcd.stop()
        stopped_at = time.monotonic()

        for replica in (a, b):
            wait_until(partial(_store_available, replica, False), 5.0, "store unavailable")
            assert metric(replica.metrics(), "breakwater_store_available") == 0
            code, body = replica.put_weights(ALL_STABLE)
            assert code == 503, body
            assert "etcd" in body["error"] and "unreachable" in body["error"]
            code, ready = replica.get("/readyz")
            assert code == 200 and ready["store"]["available"] is False
            assert replica.revision() == before
        assert (
            "UNAVAILABLE"
            in subprocess.run(
                [sys.executable, "-m", "breakwater.cli", "status", "--server", a.admin_url],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
        )

        # A proxy that connects during the outage gets the last state, override included.
        envoy_b.stop()
        envoy_b.start()
        fleet.wait_split("edge-b", 1.0, timeout=5.0)

        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
        assert fleet.split("edge-a") == 1.0 and fleet.split("edge-b") == 1.0
        fleet.etcd.start()

        for replica in (a, b):
            wait_until(partial(_store_available, replica, True), 5.0, "store available again")
        code, written = b.put_weights(ALL_STABLE)
        assert code == 200, written
        after = wait_until(lambda: _converged(a, b), 3.0, "same revision after the outage")
        assert after == written["revision"] > before
        fleet.wait_split("edge-a", 0.0, timeout=2.0)
    result = traffic.result
    assert result.ok == result.total, result.summary()
