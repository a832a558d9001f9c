"""Fleet aggregation: deltas only add, gauges are the worst live view, windows are bounded."""

from __future__ import annotations

from breakwater.controlplane.fleet.aggregate import FleetStats, summarize
from breakwater.controlplane.fleet.contract import LATENCY_BUCKETS_MS
from breakwater.controlplane.fleet.reports import Histogram, from_otlp
from tests.fleet.otlp import export

CANARY = "payments|canary"


def test_envoy_counters_become_fleet_counters_and_foreign_clusters_are_ignored() -> None:
    request = export(
        CANARY,
        counters={
            "cluster.upstream_rq_retry": 4,
            "cluster.upstream_rq_active_overflow": 2,
            "cluster.upstream_rq_pending_overflow": 1,
            "cluster.outlier_detection.ejections_enforced_total": 1,
            "cluster.upstream_cx_total": 99,
        },
        responses={"2": 10, "5": 3},
        gauges={"cluster.outlier_detection.ejections_active": 1, "cluster.membership_total": 2},
    )
    request.resource_metrics[0].scope_metrics[0].metrics.extend(
        export("xds_cluster", counters={"cluster.upstream_rq_retry": 7})
        .resource_metrics[0]
        .scope_metrics[0]
        .metrics
    )

    reports = from_otlp(request)

    assert set(reports) == {CANARY}
    report = reports[CANARY]
    assert report.counters == {"retries": 4, "bulkhead_rejections": 3, "ejections": 1}
    assert report.responses == {"2xx": 10, "5xx": 3}
    assert report.gauges == {"hosts_ejected": 1, "hosts": 2}


def test_known_clusters_bound_what_a_proxy_can_add() -> None:
    request = export("made-up", counters={"cluster.upstream_rq_retry": 1})
    assert from_otlp(request, known=frozenset({CANARY})) == {}


def test_totals_only_grow_when_a_proxy_restarts_and_its_counts_start_again() -> None:
    fleet = FleetStats()
    for at, retries in [(0.0, 5), (5.0, 7)]:
        fleet.ingest(
            "a", at, from_otlp(export(CANARY, counters={"cluster.upstream_rq_retry": retries}))
        )
    # The restarted proxy's first flush is small: what it did since it started.
    fleet.ingest("a", 10.0, from_otlp(export(CANARY, counters={"cluster.upstream_rq_retry": 1})))
    fleet.forget("a")
    fleet.ingest("a", 15.0, from_otlp(export(CANARY, counters={"cluster.upstream_rq_retry": 2})))

    assert fleet.totals()[CANARY].counters["retries"] == 15


def test_gauges_are_the_worst_view_of_the_live_proxies_and_a_gone_proxy_stops_counting() -> None:
    fleet = FleetStats(stale_after=15.0)
    gauges = {
        "cluster.membership_total": 3,
        "cluster.membership_healthy": 3,
        "cluster.outlier_detection.ejections_active": 0,
        "cluster.upstream_rq_active": 4,
    }
    fleet.ingest("a", 0.0, from_otlp(export(CANARY, gauges=gauges)))
    ejecting = {
        **gauges,
        "cluster.membership_healthy": 2,
        "cluster.outlier_detection.ejections_active": 1,
    }
    fleet.ingest("b", 0.0, from_otlp(export(CANARY, gauges=ejecting)))

    view = fleet.hosts(CANARY, 1.0)
    assert view is not None
    assert (view.hosts, view.healthy, view.ejected) == (3, 2, 1)
    assert (view.proxies, view.proxies_ejecting, view.requests_active) == (2, 1, 8)

    fleet.forget("b")
    view = fleet.hosts(CANARY, 1.0)
    assert view is not None and (view.ejected, view.proxies) == (0, 1)
    assert fleet.hosts(CANARY, 100.0) is None, "a proxy silent for longer than stale_after"


def test_recent_window_is_bounded_and_percentiles_interpolate_inside_a_bucket() -> None:
    fleet = FleetStats(window=60.0)
    bounds = LATENCY_BUCKETS_MS
    counts = [0] * (len(bounds) + 1)
    counts[bounds.index(200)] = 100  # 100 requests in (175, 200] ms
    fleet.ingest(
        "a", 0.0, from_otlp(export(CANARY, responses={"2": 90, "5": 10}, latency=(bounds, counts)))
    )
    fleet.ingest("a", 100.0, from_otlp(export(CANARY, responses={"2": 50})))

    old_and_new = fleet.recent([CANARY], 100.0)
    assert old_and_new.responses == {"2xx": 50}, "reports older than the window are gone"

    fleet.ingest(
        "b",
        110.0,
        from_otlp(export(CANARY, responses={"2": 90, "5": 10}, latency=(bounds, counts))),
    )
    summary = summarize(fleet.recent([CANARY], 120.0, seconds=15.0), 15.0)
    assert summary.requests == 100 and summary.error_percent == 10.0
    assert summary.p99_ms is not None and 175 < summary.p99_ms <= 200


def test_histograms_with_other_bounds_merge_onto_the_first() -> None:
    ours = Histogram((10.0, 100.0), (1, 1, 0))
    theirs = Histogram((50.0,), (2, 3))
    merged = ours.add(theirs)
    assert merged.counts == (1, 3, 3)
    assert merged.count == 7


def test_what_the_router_charges_to_a_failover_cluster_counts_for_its_primary() -> None:
    request = export(
        CANARY + "+failover",
        counters={"cluster.upstream_rq_retry": 2, "cluster.upstream_rq_active_overflow": 5},
        responses={"2": 10},
        gauges={"cluster.membership_total": 4},
    )
    reports = from_otlp(request)
    assert set(reports) == {CANARY}
    report = reports[CANARY]
    assert report.responses == {"2xx": 10}
    assert report.counters == {"retries": 2}, "pool overflows belong to the real cluster"
    assert report.gauges == {}, "host gauges belong to the real cluster"
