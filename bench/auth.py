"""Proxy credentials benchmark: what checking them costs per report and per xDS stream.

N simulated proxies each hold one ADS stream (node `sim-NNNNN`, cluster `edge`,
subscribed to clusters) and send, every ``interval`` seconds (staggered), one
OTLP export shaped like Envoy's stats sink (`bench.fleet`'s). Run twice on the
same policies: without proxy credentials, and with a `--proxy-token-file`
(each call then carries `authorization: Bearer`, each stream is admitted, and
each report is checked against the stream its node holds). Measured: the
server's CPU while the N streams connect (per stream), and over ``duration``
seconds of reports (per report).

Run: ``python -m bench.auth --proxies 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from bench import proc
from bench.fleet import ADS, envoy_like_export, report_loop
from bench.policies import NODE_CLUSTER, service_name, write_policies
from bench.server import BreakwaterServer
from breakwater.xds_types import CLUSTER_TYPE

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-proxy-token-0123456789abcdef"


async def _proxy(
    channel: grpc.aio.Channel,
    node: str,
    metadata: tuple[tuple[str, str], ...],
    connected: asyncio.Event,
    counts: dict[str, int],
) -> Any:
    """One proxy's ADS stream: the first request, its answer; then it stays open."""
    call = channel.stream_stream(ADS, None, None)(metadata=metadata)  # type: ignore[call-arg]
    request = discovery_pb2.DiscoveryRequest(
        node=base_pb2.Node(id=node, cluster=NODE_CLUSTER), type_url=CLUSTER_TYPE
    )
    await call.write(request.SerializeToString())
    await call.read()
    counts["connected"] += 1
    if counts["connected"] == counts["wanted"]:
        connected.set()
    return call


async def _drive(
    target: str,
    proxies: int,
    clusters: list[str],
    interval: float,
    duration: float,
    pid: int,
    token: str | None,
) -> dict[str, Any]:
    rng = random.Random(1)
    bodies = [envoy_like_export(clusters, rng) for _ in range(min(proxies, 50))]
    metadata: tuple[tuple[str, str], ...] = (
        () if token is None else (("authorization", f"Bearer {token}"),)
    )
    channels = [grpc.aio.insecure_channel(target) for _ in range(8)]
    counts = {"connected": 0, "wanted": proxies}
    sent = [0]
    connected = asyncio.Event()
    cpu_start, wall_start = proc.cpu_seconds(pid), time.monotonic()
    calls = await asyncio.gather(
        *(
            _proxy(channels[i % len(channels)], f"sim-{i:05d}", metadata, connected, counts)
            for i in range(proxies)
        )
    )
    connect_cpu = proc.cpu_seconds(pid) - cpu_start
    connect_wall = time.monotonic() - wall_start
    stop = asyncio.Event()
    tasks = [
        asyncio.ensure_future(
            report_loop(
                channels[i % len(channels)],
                f"sim-{i:05d}",
                bodies[i % len(bodies)],
                interval,
                stop,
                sent,
                metadata,
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
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for call in calls:
        call.cancel()
    for channel in channels:
        await channel.close(None)
    return {
        "credentials": "proxy token" if token else "none",
        "proxies": proxies,
        "connect_s": connect_wall,
        "server_cpu_ms_per_stream": 1000.0 * connect_cpu / proxies,
        "reports": reports,
        "reports_per_s": reports / wall,
        "server_cpu_per_s": cpu / wall,
        "server_cpu_ms_per_report": 1000.0 * cpu / reports if reports else None,
    }


def run_mode(
    proxies: int, workdir: Path, token: bool, *, clusters: int, interval: float, duration: float
) -> dict[str, Any]:
    policy_dir = write_policies(workdir / "auth-policies", clusters)
    names = [service_name(i) for i in range(clusters)]
    extra: list[str] = []
    if token:
        tokens = workdir / "auth-proxy-tokens"
        tokens.write_text(f"{TOKEN} {NODE_CLUSTER}\n")
        tokens.chmod(0o600)
        extra = ["--proxy-token-file", str(tokens)]
    with BreakwaterServer(policy_dir, workdir / "auth-server", extra_args=extra) as server:
        result = asyncio.run(
            _drive(
                server.xds_address,
                proxies,
                names,
                interval,
                duration,
                server.pid,
                TOKEN if token else None,
            )
        )
        result["server_counted_reports"] = server.metric_sum("breakwater_fleet_reports_total")
    return result


def run(
    proxies: int,
    workdir: Path,
    *,
    clusters: int = 20,
    interval: float = 5.0,
    duration: float = 30.0,
) -> list[dict[str, Any]]:
    """Both modes, without credentials first; each on a freshly started server."""
    return [
        run_mode(proxies, workdir, token, clusters=clusters, interval=interval, duration=duration)
        for token in (False, True)
    ]


def section(rows: list[dict[str, Any]]) -> list[str]:
    """The BENCHMARKS.md section of `run`'s two rows."""
    out = [
        "## Proxy credentials: the cost of checking them",
        "",
        "`python -m bench.auth --proxies 1000`: 1 000 simulated proxies, each with one ADS",
        "stream and one OTLP export every 5 s (`bench.fleet`'s, 20 clusters), once without",
        "proxy credentials and once with `--proxy-token-file` (every stream admitted, every",
        "report checked against its node's stream). The load generator shares the cores.",
        "",
        "| credentials | CPU per stream (connect) | reports/s | server CPU (cores) | CPU per report |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        per_report = r["server_cpu_ms_per_report"]
        out.append(
            f"| {r['credentials']} | {r['server_cpu_ms_per_stream']:.2f} ms "
            f"| {r['reports_per_s']:.0f} | {r['server_cpu_per_s']:.2f} "
            f"| {'—' if per_report is None else f'{per_report:.2f} ms'} |"
        )
    if not rows:
        out.append("| (not run) | | | | |")
    return [*out, ""]


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
