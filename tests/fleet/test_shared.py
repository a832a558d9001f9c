"""Replicas' shares of the fleet: what a share carries survives etcd's bytes, a bucket
published again counts once, a peer that stops or goes counts no more, and a share of a
busy replica with 100 clusters stays a few kilobytes.

`pytest -s tests/fleet/test_shared.py -k bytes` prints the size of one publish.
"""

from __future__ import annotations

import random
import time
import zlib
from pathlib import Path

import pytest

from breakwater.controlplane.fleet.aggregate import ClusterTotals, FleetStats, HostView
from breakwater.controlplane.fleet.contract import LATENCY_BUCKETS_MS, FleetOptions
from breakwater.controlplane.fleet.reports import ClusterReport, EndpointLoad, Histogram
from breakwater.controlplane.fleet.shared import (
    MAX_JSON_BYTES,
    SHARE_SECONDS,
    FleetView,
    PeerShares,
    RecordingFleetStats,
    Share,
    bucket_of,
)
from breakwater.controlplane.fleet.sharing import FleetSharing
from breakwater.controlplane.state.store import SqliteStore

CANARY = "payments|canary"
WINDOW = 60.0


def _report(rng: random.Random, requests: int) -> ClusterReport:
    """One second of a busy cluster as its proxies report it: mostly 2xx, a few errors,
    latencies spread over a dozen buckets, three endpoints."""
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for _ in range(requests):
        latency = rng.lognormvariate(3.0, 0.6)
        index = next(
            (i for i, b in enumerate(LATENCY_BUCKETS_MS) if latency <= b), len(LATENCY_BUCKETS_MS)
        )
        counts[index] += 1
    errors = rng.randint(0, requests // 20)
    return ClusterReport(
        counters={"retries": rng.randint(0, 5), "timeouts": rng.randint(0, 2)},
        responses={"2xx": requests - errors - 1, "4xx": 1, "5xx": errors},
        latency=Histogram(
            LATENCY_BUCKETS_MS, tuple(counts), round(rng.uniform(10, 50) * requests, 3)
        ),
        endpoints={
            f"10.0.{i}.7:8080": EndpointLoad(requests // 3, errors // 3, requests // 3, i)
            for i in range(3)
        },
    )


def _busy_share(clusters: int, now: float) -> Share:
    rng = random.Random(7)
    names = [f"service-{i:03d}|v{i % 3}" for i in range(clusters)]
    second = bucket_of(now)
    return Share(
        at=now,
        buckets={
            second - age: {name: _report(rng, rng.randint(50, 400)) for name in names}
            for age in range(SHARE_SECONDS)
        },
        hosts={name: HostView(12, 11, 1, 40, 2, 30, 1, 3) for name in names},
        totals={
            name: ClusterTotals(
                counters={"retries": 123456, "timeouts": 789, "ejections": 12},
                responses={"2xx": 98765432, "4xx": 1234, "5xx": 5678},
            )
            for name in names
        },
    )


def test_a_share_reads_back_as_it_was_written() -> None:
    share = _busy_share(3, time.time())
    back = Share.decode(share.encode())
    assert back.buckets == share.buckets
    assert back.hosts == share.hosts
    assert {c: (t.counters, t.responses) for c, t in back.totals.items()} == {
        c: (t.counters, t.responses) for c, t in share.totals.items()
    }


def test_bytes_of_one_publish_for_100_busy_clusters() -> None:
    share = _busy_share(100, time.time())
    raw = share.encode()
    json_bytes = len(zlib.decompress(raw))
    print(
        f"one publish, 100 busy clusters, {SHARE_SECONDS} one-second buckets: {len(raw)} bytes "
        f"in etcd ({json_bytes} bytes of JSON before zlib)"
    )
    # etcd's default request limit is 1.5 MiB; a share must stay far below it.
    assert len(raw) < 64 * 1024, len(raw)


def _view() -> tuple[FleetView, PeerShares]:
    peers = PeerShares(window=WINDOW, stale_after=5.0)
    return FleetView(FleetStats(window=WINDOW), peers), peers


def _one(requests: int) -> dict[str, ClusterReport]:
    return {CANARY: ClusterReport(responses={"2xx": requests})}


def test_a_bucket_published_again_counts_once_with_its_latest_numbers() -> None:
    view, peers = _view()
    wall = time.time()
    second = bucket_of(wall) - 2
    peers.update({"b": (10, Share(at=wall, buckets={second: _one(5)}))}, time.monotonic())
    peers.update(
        {"b": (11, Share(at=wall, buckets={second: _one(7), second + 1: _one(3)}))},
        time.monotonic(),
    )
    # The same revision read again is not news.
    peers.update({"b": (11, Share(at=wall, buckets={second: _one(99)}))}, time.monotonic())

    assert view.recent([CANARY], time.monotonic(), 10.0).responses == {"2xx": 10}


def test_windows_look_back_by_the_wall_clock_and_local_reports_add_up() -> None:
    view, peers = _view()
    wall = time.time()
    old, recent = bucket_of(wall) - 20, bucket_of(wall) - 1
    peers.update(
        {"b": (1, Share(at=wall, buckets={old: _one(100), recent: _one(4)}))}, time.monotonic()
    )
    view.ingest("edge-a-1", time.monotonic(), _one(2))

    assert view.recent([CANARY], time.monotonic(), 5.0).responses == {"2xx": 6}
    assert view.recent([CANARY], time.monotonic(), 30.0).responses == {"2xx": 106}
    assert view.local.recent([CANARY], time.monotonic(), 30.0).responses == {"2xx": 2}


def test_a_peer_that_goes_or_stops_publishing_counts_no_more() -> None:
    view, peers = _view()
    wall = time.time()
    share = Share(
        at=wall,
        buckets={bucket_of(wall): _one(5)},
        hosts={CANARY: HostView(3, 3, 0, 1, 0, 0, 0, 0)},
        totals={CANARY: ClusterTotals(responses={"2xx": 50})},
    )
    now = time.monotonic()
    peers.update({"b": (1, share), "c": (1, share)}, now)
    assert view.recent([CANARY], now, 10.0).responses == {"2xx": 10}
    host = view.hosts(CANARY, now)
    assert host is not None and host.proxies == 2
    assert view.totals()[CANARY].responses == {"2xx": 100}

    peers.update({"b": (1, share)}, now + 1.0)  # c's key is gone: its lease ran out
    assert view.recent([CANARY], now + 1.0, 10.0).responses == {"2xx": 5}

    # b's key has not changed for longer than stale_after: its publisher stopped.
    later = now + 6.0
    assert peers.live(later) == []
    assert view.recent([CANARY], later, 60.0).responses == {}
    assert view.hosts(CANARY, later) is None


def test_one_replica_on_sqlite_judges_its_own_numbers_as_before(tmp_path: Path) -> None:
    sharing = FleetSharing(SqliteStore(tmp_path), FleetOptions(), lambda: "a", lambda: None)
    assert type(sharing.view) is FleetStats
    assert sharing.view is sharing.local


def test_a_replica_records_its_windows_by_the_wall_clock_second() -> None:
    local = RecordingFleetStats(window=WINDOW, stale_after=15.0)
    local.ingest("edge-a-1", time.monotonic(), _one(3))
    local.ingest("edge-a-1", time.monotonic(), _one(4))
    share = local.share(time.monotonic(), time.time())
    counted = sum(r[CANARY].responses["2xx"] for r in share.buckets.values())
    assert counted == 7


def test_a_share_that_is_not_one_is_refused_with_a_reason() -> None:
    for raw, reason in [
        (b"plain text", "not a fleet share"),
        (zlib.compress(b'{"v": 99}'), "another format version"),
        (zlib.compress(b" " * (MAX_JSON_BYTES + 1)), "inflates past"),
    ]:
        with pytest.raises(ValueError, match=reason):
            Share.decode(raw)
