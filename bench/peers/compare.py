"""Breakwater, go-control-plane and java-control-plane under one load generator, in one run.

For each fleet size the three servers are driven one after the other by
``bench.fanout.run_size`` (the same simulated proxies, the same resources,
the same change: a weight write through Breakwater's API, the peer's
publish hook for the others), and the figures are set side by side:
change → ACK p50/p99, CPU seconds per push, idle memory per stream.

A peer that ``make bench`` did not build is reported as such and skipped.

``--workers N`` (repeatable) runs Breakwater once per N (``serve --workers N``;
0 is one process), each a row of its own; its CPU and memory are those of all
its processes. Ratios are against the first Breakwater row of each size.

Run: ``python -m bench.peers.compare [--workers 0 --workers 2]`` (prints JSON;
``bench.run`` renders it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench import fanout, scenario
from bench.peers.servers import peer_command

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1000, 10000)
SERVERS: tuple[fanout.ServerKind, ...] = ("breakwater", "go", "java")


def run(
    workdir: Path,
    sizes: tuple[int, ...] = SIZES,
    pushes: int = 3,
    workers: tuple[int, ...] = (0,),
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    runs: list[tuple[fanout.ServerKind, int]] = [("breakwater", w) for w in workers]
    runs += [(s, 0) for s in SERVERS if s != "breakwater"]
    for streams in sizes:
        for server, count in runs:
            if server != "breakwater" and peer_command(server) is None:  # type: ignore[arg-type]
                rows.append({"server": server, "streams": streams, "failed": "not built"})
                continue
            try:
                rows.append(
                    fanout.run_size(
                        streams,
                        workdir,
                        pushes=pushes,
                        connect_timeout=150.0,
                        server_kind=server,
                        profile=server == "breakwater" and not count and streams == max(sizes),
                        workers=count,
                    )
                )
            except Exception as exc:  # one server failing leaves the others' figures
                rows.append(
                    {"server": server, "streams": streams, "workers": count, "failed": repr(exc)}
                )
    return rows


def _label(row: dict[str, Any]) -> str:
    workers = row.get("workers", 0)
    return f"{row['server']} ({workers} workers)" if workers else str(row["server"])


def _ratio(peer: float | None, ours: float | None) -> str:
    if not peer or not ours:
        return "—"
    return f"{peer / ours:.2f}"


def section(rows: list[dict[str, Any]]) -> list[str]:
    """The BENCHMARKS.md section: one row per server and size, ratios against Breakwater."""
    out = [
        "## Side by side: go-control-plane and java-control-plane",
        "",
        "The same load generator (`bench/loadgen.py`, SotW, every proxy in node cluster",
        "`edge`) against three servers holding the same resources: Breakwater",
        f"translating the fan-out policy set ({scenario.FANOUT_SERVICES} services), and two",
        "minimal peers (`bench/peers/go`: go-control-plane's `SnapshotCache` and ADS server;",
        "`bench/peers/java`: java-control-plane's `SimpleCache` and `V3DiscoveryServer`)",
        "serving what Breakwater served, recorded from it before and after each weight",
        "change (`bench/peers/resources.py`). A push is the same weight change for all:",
        "an API write for Breakwater (durable store, debounce, translation included),",
        "the publish hook for a peer (a prepared snapshot, nothing to translate). Ratios",
        "are peer / Breakwater: above 1, Breakwater is ahead.",
        "",
        "| streams | server | synced | change → ACK p50 s | p99 s | CPU s / push | idle KiB / stream "
        "| p99 ratio | CPU ratio | idle ratio | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ours: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r.get("server") == "breakwater" and "failed" not in r:
            ours.setdefault(r["streams"], r)
    for row in rows:
        streams = row["streams"]
        command = fanout.command_for(streams, "sotw", 3, row["server"], row.get("workers", 0))
        if "failed" in row:
            out.append(
                f"| {streams} | {_label(row)} | — | — | — | — | — | — | — | — | "
                f"failed: {row['failed'][:80]} |"
            )
            continue
        base = ours.get(streams, {})
        idle = row.get("idle_kib_per_stream")
        out.append(
            f"| {streams} | {_label(row)} | {row['connect']['synced']} "
            f"| {row.get('p50_s', float('nan')):.3f} | {row.get('p99_s', float('nan')):.3f} "
            f"| {row['cpu_per_push_s']:.2f} | {idle if idle is None else f'{idle:.1f}'} "
            f"| {_ratio(row.get('p99_s'), base.get('p99_s'))} "
            f"| {_ratio(row['cpu_per_push_s'], base.get('cpu_per_push_s'))} "
            f"| {_ratio(idle, base.get('idle_kib_per_stream'))} | `{command}` |"
        )
    largest = ours.get(max(ours)) if ours else None
    out += [
        "",
        "Where a peer is ahead, what Breakwater's figure holds that the peer's does not:",
        "the API write, its durable store write, the 100 ms debounce quiet period and the",
        "translation of the changed route (a peer swaps in a prepared snapshot). And how",
        "the work is spread: go-control-plane answers each stream on its own goroutine and",
        "java-control-plane on Netty's event loops and an executor, both on every core;",
        "Breakwater serves every stream from one Python event loop, on one core.",
    ]
    if largest is not None and largest.get("profile_push"):
        out += [
            "",
            f"Breakwater's push profile at {largest['streams']} streams (py-spy, all samples):",
            "",
            "```",
            *(f"{share * 100:5.1f}%  {frame}" for share, frame in largest["profile_push"][:16]),
            "```",
            "",
            "`Handle._run` is everything the event loop runs, and most of it is its own",
            "share: gRPC's Cython/C-core work of sending each response and reading each",
            "ACK, which py-spy cannot see as Python frames. Of the Python left, waking the",
            "group's streams (`SnapshotCache._wake` → `Signal.set`) and each stream's",
            "`evaluate` (now version comparisons and remembered verdicts) are the largest.",
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--streams", type=int, action="append", help="fleet sizes (repeatable)")
    parser.add_argument("--pushes", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        help="run Breakwater with `serve --workers N` (repeatable; default: 0, one process)",
    )
    args = parser.parse_args()
    rows = run(args.workdir, tuple(args.streams or SIZES), args.pushes, tuple(args.workers or (0,)))
    print(json.dumps(rows))
    print("\n".join(section(rows)))


if __name__ == "__main__":
    main()
