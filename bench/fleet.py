"""Fleet-reports benchmark: N simulated proxies flush their stats to one `breakwater serve`.

Each simulated proxy sends, every ``interval`` seconds (staggered), one OTLP
export shaped like Envoy's OpenTelemetry stats sink: for each of
``clusters`` clusters, Envoy's usual ~40 counters, ~16 gauges and 4
histograms (the counters as deltas), with its node id in the
``x-breakwater-node`` header. One real ADS stream keeps the node group's
snapshot built, so every reported cluster is one the server serves and the
whole aggregation path runs. Measured over ``duration`` seconds once every
proxy reported at least once: the server's CPU seconds per wall second,
its RSS before and after, and the reports it counted.

Run: ``python -m bench.fleet --proxies 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from bench import proc
from bench.policies import NODE_CLUSTER, service_name, write_policies
from bench.server import BreakwaterServer
from breakwater.controlplane.fleet.contract import LATENCY_BUCKETS_MS, NODE_HEADER
from breakwater.controlplane.fleet.receivers import OTLP_METRICS_SERVICE
from breakwater.devtools.memory import rss_bytes
from breakwater.otlp.v1 import common_pb2, metrics_pb2
from breakwater.xds_types import CLUSTER_TYPE

ROOT = Path(__file__).resolve().parents[1]
EXPORT = f"/{OTLP_METRICS_SERVICE}/Export"
ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

COUNTERS = [f"cluster.upstream_cx_{n}" for n in range(30)] + [
    "cluster.upstream_rq_retry",
    "cluster.upstream_rq_timeout",
    "cluster.upstream_rq_pending_overflow",
    "cluster.upstream_rq_active_overflow",
    "cluster.outlier_detection.ejections_enforced_total",
    "cluster.upstream_rq_total",
    "cluster.upstream_rq_completed",
    "cluster.upstream_rq_per_try_timeout",
    "cluster.upstream_rq_retry_success",
    "cluster.upstream_rq_pending_total",
]
GAUGES = [f"cluster.circuit_breakers.x{n}" for n in range(11)] + [
    "cluster.membership_total",
    "cluster.membership_healthy",
    "cluster.outlier_detection.ejections_active",
    "cluster.upstream_rq_active",
    "cluster.upstream_rq_pending_active",
]
HISTOGRAMS = [
    "cluster.upstream_rq_time",
    "cluster.external.upstream_rq_time",
    "cluster.upstream_cx_length_ms",
    "cluster.upstream_cx_connect_ms",
]


def _attributes(cluster: str, **extra: str) -> list[common_pb2.KeyValue]:
    pairs = {"envoy.cluster_name": cluster, **extra}
    return [
        common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
        for k, v in pairs.items()
    ]


def envoy_like_export(clusters: list[str], rng: random.Random) -> bytes:
    """One flush of one proxy, serialized once (its numbers do not matter to the server's cost)."""
    metrics: dict[str, metrics_pb2.Metric] = {}
    for cluster in clusters:
        for name in COUNTERS:
            metric = metrics.setdefault(name, metrics_pb2.Metric(name=name))
            metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
            point = metric.sum.data_points.add(as_int=rng.randint(0, 50))
            point.attributes.extend(_attributes(cluster))
        rq = metrics.setdefault(
            "cluster.upstream_rq_xx", metrics_pb2.Metric(name="cluster.upstream_rq_xx")
        )
        rq.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        for digit, count in (("2", rng.randint(100, 200)), ("5", rng.randint(0, 5))):
            point = rq.sum.data_points.add(as_int=count)
            point.attributes.extend(_attributes(cluster, **{"envoy.response_code_class": digit}))
        for name in GAUGES:
            metric = metrics.setdefault(name, metrics_pb2.Metric(name=name))
            point = metric.gauge.data_points.add(as_int=rng.randint(0, 3))
            point.attributes.extend(_attributes(cluster))
        for name in HISTOGRAMS:
            metric = metrics.setdefault(name, metrics_pb2.Metric(name=name))
            metric.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
            counts = [rng.randint(0, 20) for _ in range(len(LATENCY_BUCKETS_MS) + 1)]
            hpoint = metric.histogram.data_points.add(
                count=sum(counts), explicit_bounds=list(LATENCY_BUCKETS_MS), bucket_counts=counts
            )
            hpoint.attributes.extend(_attributes(cluster))
    request = metrics_pb2.ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.extend(metrics.values())
    return request.SerializeToString()


async def _probe(channel: grpc.aio.Channel, stop: asyncio.Event) -> None:
    """One ADS stream of the benchmark's node group, so the server builds and keeps its snapshot."""
    call = channel.stream_stream(ADS, None, None)()  # type: ignore[call-arg]
    request = discovery_pb2.DiscoveryRequest(
        node=base_pb2.Node(id="fleet-bench-probe", cluster=NODE_CLUSTER), type_url=CLUSTER_TYPE
    )
    await call.write(request.SerializeToString())
    await call.read()
    await stop.wait()
    call.cancel()


async def report_loop(
    channel: grpc.aio.Channel,
    node: str,
    body: bytes,
    interval: float,
    stop: asyncio.Event,
    sent: list[int],
    metadata: tuple[tuple[str, str], ...] = (),
) -> None:
    """One simulated proxy's stats sink: an export every `interval` (the first at a random
    offset, so the fleet's flushes spread), counted in `sent[0]`, until `stop`."""
    export = channel.unary_unary(EXPORT, None, None)
    await asyncio.sleep(random.random() * interval)
    while not stop.is_set():
        await export(body, metadata=((NODE_HEADER, node), *metadata), timeout=30)
        sent[0] += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def _drive(
    target: str, proxies: int, clusters: list[str], interval: float, duration: float, pid: int
) -> dict[str, Any]:
    rng = random.Random(1)
    bodies = [envoy_like_export(clusters, rng) for _ in range(min(proxies, 50))]
    stop = asyncio.Event()
    sent = [0]
    channels = [grpc.aio.insecure_channel(target) for _ in range(8)]
    probe = asyncio.ensure_future(_probe(channels[0], stop))
    await asyncio.sleep(1.0)
    rss_before = rss_bytes(pid)
    tasks = [
        asyncio.ensure_future(
            report_loop(
                channels[i % len(channels)],
                f"sim-{i:05d}",
                bodies[i % len(bodies)],
                interval,
                stop,
                sent,
            )
        )
        for i in range(proxies)
    ]
    await asyncio.sleep(interval + 2.0)
    cpu_start, wall_start, sent_start = proc.cpu_seconds(pid), time.monotonic(), sent[0]
    await asyncio.sleep(duration)
    cpu = proc.cpu_seconds(pid) - cpu_start
    wall = time.monotonic() - wall_start
    reports = sent[0] - sent_start
    rss_after = rss_bytes(pid)
    stop.set()
    await asyncio.gather(*tasks, probe, return_exceptions=True)
    for channel in channels:
        await channel.close(None)
    return {
        "proxies": proxies,
        "clusters_per_report": len(clusters),
        "interval_s": interval,
        "report_bytes": len(bodies[0]),
        "reports": reports,
        "reports_per_s": reports / wall,
        "server_cpu_per_s": cpu / wall,
        "server_cpu_ms_per_report": 1000.0 * cpu / reports if reports else None,
        "rss_before_mib": rss_before / 2**20,
        "rss_after_mib": rss_after / 2**20,
        "rss_per_proxy_kib": (rss_after - rss_before) / 1024 / proxies,
    }


def run(
    proxies: int,
    workdir: Path,
    *,
    clusters: int = 20,
    interval: float = 5.0,
    duration: float = 30.0,
) -> dict[str, Any]:
    policy_dir = write_policies(workdir / "fleet-policies", clusters)
    names = [service_name(i) for i in range(clusters)]
    with BreakwaterServer(policy_dir, workdir / "fleet-server") as server:
        result = asyncio.run(
            _drive(server.xds_address, proxies, names, interval, duration, server.pid)
        )
        result["server_counted_reports"] = server.metric_sum("breakwater_fleet_reports_total")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    result = run(
        args.proxies,
        ROOT / "build" / "bench",
        clusters=args.clusters,
        interval=args.interval,
        duration=args.duration,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
