"""Why a cluster's hosts were ejected, from reports as Envoy sends them: detectors count per
proxy, the hosts that failed most come first and stay bounded, "ejected on" follows each
proxy's own gauge, a replica's answer crosses etcd's bytes and adds to its peers', and the
history gets one entry per cluster per window."""

from __future__ import annotations

import asyncio
from pathlib import Path

from breakwater.controlplane.fleet.aggregate import FleetStats
from breakwater.controlplane.fleet.causes import merge
from breakwater.controlplane.fleet.contract import RATE_WINDOW_SECONDS
from breakwater.controlplane.fleet.ejection_history import WHO, EjectionHistory
from breakwater.controlplane.fleet.reports import ClusterReport, EndpointLoad
from breakwater.controlplane.fleet.shared import RecordingFleetStats, Share
from breakwater.controlplane.limits import MAX_FAILING_HOSTS
from breakwater.controlplane.state.history import History
from breakwater.controlplane.state.store import SqliteStore

BAD = "10.0.0.5:8080"
GOOD = "10.0.0.6:8080"


def _flush(ejections: int, ejected: int, bad_failed: int, good_ok: int) -> dict[str, ClusterReport]:
    counters = {"ejections:consecutive_5xx": ejections} if ejections else {}
    return {
        "payments": ClusterReport(
            counters=counters,
            gauges={"hosts_ejected": ejected},
            endpoints={
                BAD: EndpointLoad(succeeded=1, failed=bad_failed, issued=bad_failed + 1),
                GOOD: EndpointLoad(succeeded=good_ok, issued=good_ok),
            },
        )
    }


def _fleet() -> FleetStats:
    fleet = FleetStats(window=60.0, stale_after=15.0)
    fleet.ingest("a", 100.0, _flush(1, 1, 5, 10))
    fleet.ingest("b", 101.0, _flush(0, 0, 2, 10))
    fleet.ingest("c", 102.0, _flush(2, 1, 3, 10))
    return fleet


def test_detectors_and_failing_hosts_are_read_per_proxy() -> None:
    causes = _fleet().causes("payments", 103.0, RATE_WINDOW_SECONDS)
    assert causes.detectors == {"consecutive_5xx": (3, 2)}
    (bad,) = causes.hosts
    assert (bad.address, bad.failed, bad.requests) == (BAD, 10, 13)
    assert (bad.proxies_failing, bad.proxies_reporting, bad.ejected_on) == (3, 3, 2)
    assert bad.last_failed_at is not None and causes.first_ejection_at is not None
    assert bad.last_failed_at - causes.first_ejection_at == 2.0


def test_reports_older_than_the_window_say_nothing() -> None:
    causes = _fleet().causes("payments", 102.0 + RATE_WINDOW_SECONDS + 1, RATE_WINDOW_SECONDS)
    assert causes.detectors == {} and causes.hosts == ()


def test_only_the_most_failing_hosts_are_kept() -> None:
    fleet = FleetStats(window=60.0, stale_after=15.0)
    endpoints = {f"10.0.1.{i}:80": EndpointLoad(failed=i + 1) for i in range(50)}
    fleet.ingest("a", 1.0, {"payments": ClusterReport(endpoints=endpoints)})
    hosts = fleet.causes("payments", 2.0).hosts
    assert len(hosts) == MAX_FAILING_HOSTS
    assert [h.failed for h in hosts] == [50, 49, 48, 47, 46]


def test_a_share_carries_the_causes_and_replicas_add_up() -> None:
    recording = RecordingFleetStats(window=60.0, stale_after=15.0)
    for node, at, flush in (("a", 100.0, _flush(1, 1, 5, 10)), ("b", 101.0, _flush(0, 0, 2, 10))):
        recording.ingest(node, at, flush)
    share = Share.decode(recording.share(102.0, 1_000_000.0).encode())
    mine = _fleet().causes("payments", 103.0)
    both = merge([mine, share.causes["payments"]])
    assert both.detectors == {"consecutive_5xx": (4, 3)}
    assert (both.hosts[0].failed, both.hosts[0].proxies_reporting, both.hosts[0].ejected_on) == (
        17,
        5,
        3,
    )


def test_ejections_go_into_the_history_once_per_cluster_per_window(tmp_path: Path) -> None:
    async def run() -> list[str]:
        store = SqliteStore(tmp_path / "state.db")
        history = History(store)
        fleet = _fleet()

        async def claim(what: str) -> bool:
            return True

        watch = EjectionHistory(fleet, history, claim)
        await watch.turn(103.0)
        fleet.ingest("a", 104.0, _flush(1, 1, 5, 10))
        await watch.turn(105.0)
        entries = await history.read()
        await store.close()
        return [e.what for e in entries if e.who == WHO]

    (entry,) = asyncio.run(run())
    assert entry.startswith(f"payments: {BAD} ejected on 2 of 3 proxies: consecutive 5xx, "), entry
