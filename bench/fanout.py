"""Fan-out benchmark: N simulated Envoys on ADS, one weight change through the API.

For each fleet size a fresh ``breakwater serve`` process serves a policy set
of ``FANOUT_SERVICES`` services to proxies that all share one node cluster
(one node group, one snapshot, as in a real fleet). Measured:

* connect: time until every stream holds CDS, EDS, LDS and RDS, and the
  server's CPU seconds for it;
* idle memory: server RSS after the fleet connected minus RSS with one
  probe stream connected (the group's snapshot already built), per stream;
* idle CPU: server CPU seconds per wall second while nothing changes;
* per push: ``PUT /v1/routes/…/weights`` → every stream has received and
  ACKed the new RDS version (p50, p99, max over all streams and pushes;
  the clock starts just before the PUT, so the API, the durable store write,
  the debounce quiet period and translation are included), and the
  server's CPU seconds from the PUT until every ACK was in.

With ``--workers N`` Breakwater serves the streams from N worker processes
(``serve --workers N``); its CPU and memory are then those of every server
process (the parent and the workers), as they are for one process.

Run one size: ``python -m bench.fanout --streams 1000 [--workers 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from bench import proc
from bench.loadgen import (
    AdsServer,
    ChangeHook,
    FleetConfig,
    FleetProcesses,
    Mode,
    default_processes,
)
from bench.peers.resources import recorded
from bench.peers.servers import PeerServer
from bench.policies import write_policies
from bench.profile import Recording
from bench.scenario import FANOUT_SERVICES, ROUTE, WEIGHTS
from bench.server import BreakwaterServer

ROOT = Path(__file__).resolve().parents[1]
ServerKind = Literal["breakwater", "go", "java"]


@contextlib.contextmanager
def open_server(
    kind: ServerKind, workdir: Path, *, launcher: list[str] | None = None, workers: int = 0
) -> Iterator[tuple[AdsServer, ChangeHook]]:
    """A started server serving the fan-out resources, and how to make it publish change i.

    Breakwater translates the fan-out policy set and gets each change as a weight
    write through its API; a peer serves what Breakwater served, recorded before and
    after each change (``bench.peers.resources``), and switches on its publish hook.
    """
    policies = write_policies(workdir / "fanout-policies", FANOUT_SERVICES)
    if kind == "breakwater":
        with BreakwaterServer(
            policies, workdir / "server", launcher=launcher, workers=workers
        ) as server:

            def write_weights(index: int) -> None:
                stable, canary = WEIGHTS[index % len(WEIGHTS)]
                server.set_weights(ROUTE, {"stable": stable, "canary": canary})

            yield server, write_weights
        return
    snapshots = recorded(workdir.parent / "peer-snapshots")
    with PeerServer(kind, snapshots, workdir) as peer:

        def publish(index: int) -> None:
            peer.publish(index % len(WEIGHTS) + 1)

        yield peer, publish


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def histogram_totals(server: BreakwaterServer) -> tuple[float, float]:
    total = server.metric_sum("breakwater_change_to_ack_seconds_sum")
    count = server.metric_sum("breakwater_change_to_ack_seconds_count")
    return total, count


def run_size(
    streams: int,
    workdir: Path,
    *,
    mode: Mode = "sotw",
    pushes: int = 3,
    connect_timeout: float = 120.0,
    change_timeout: float = 60.0,
    idle_seconds: float = 5.0,
    settle_timeout: float = 30.0,
    launcher: list[str] | None = None,
    profile: bool = False,
    server_kind: ServerKind = "breakwater",
    workers: int = 0,
) -> dict[str, Any]:
    prefix = "fanout" if server_kind == "breakwater" else f"fanout-{server_kind}"
    if workers:
        prefix = f"{prefix}-w{workers}"
    server_dir = workdir / f"{prefix}-{mode}-{streams}"
    result: dict[str, Any] = {
        "server": server_kind,
        "streams": streams,
        "mode": mode,
        "services": FANOUT_SERVICES,
        "processes": default_processes(streams),
        "workers": workers,
    }
    with open_server(server_kind, server_dir, launcher=launcher, workers=workers) as (
        server,
        change,
    ):
        server_pids = server.pids if isinstance(server, BreakwaterServer) else lambda: [server.pid]
        time.sleep(1.0)
        probe_config = FleetConfig(server.xds_address, 1, mode=mode, node_prefix="probe")
        with FleetProcesses(probe_config, 1) as probe:
            probe.start(30)
            time.sleep(1.0)
            rss_before = server.rss_bytes()
            cpu_before = server.cpu_seconds()
            config = FleetConfig(server.xds_address, streams, mode=mode)
            recording = (
                Recording(server.pid, min(30.0, connect_timeout), server_dir / "connect.raw")
                if profile
                else None
            )
            with FleetProcesses(config, result["processes"]) as fleet:
                connect = fleet.start(connect_timeout)
                if recording is not None:
                    result["profile_connect"] = recording.finish()
                result["connect"] = connect
                result["connect_s"] = connect["elapsed"]
                result["connect_cpu_s"] = server.cpu_seconds() - cpu_before
                synced = connect["synced"]
                time.sleep(2.0)
                rss_after = server.rss_bytes()
                result["rss_before_mib"] = rss_before / 2**20
                result["rss_after_mib"] = rss_after / 2**20
                result["idle_kib_per_stream"] = (
                    (rss_after - rss_before) / synced / 1024 if synced else None
                )
                result["idle_cpu_per_s"] = proc.cpu_rate(server_pids(), idle_seconds)
                result["idle_seconds"] = idle_seconds
                breakwater = server if isinstance(server, BreakwaterServer) else None
                hist_before = histogram_totals(breakwater) if breakwater else (0.0, 0.0)
                latencies: list[float] = []
                push_rows: list[dict[str, Any]] = []
                client_cpu_before = proc.tree_cpu_seconds(fleet.pids)
                recording = (
                    Recording(server.pid, 15.0, server_dir / "push.raw") if profile else None
                )
                for index in range(pushes):
                    fleet.mark()
                    cpu_start = server.cpu_seconds()
                    started = time.monotonic()
                    change(index)
                    times, missing = fleet.wait_changed(change_timeout)
                    cpu_end = server.cpu_seconds()
                    ended = time.monotonic()
                    # Bookkeeping the push caused after the last ACK (status, metrics)
                    # still belongs to it: wait until the server is idle again.
                    settle = proc.wait_quiet(server_pids(), timeout=settle_timeout)
                    cpu_quiet = server.cpu_seconds()
                    these = [t - started for t in times]
                    latencies.extend(these)
                    push_rows.append(
                        {
                            "received": len(these),
                            "missing": missing,
                            "p50_s": percentile(these, 50) if these else None,
                            "p99_s": percentile(these, 99) if these else None,
                            "max_s": max(these) if these else None,
                            "cpu_s": cpu_end - cpu_start,
                            "cpu_until_quiet_s": cpu_quiet - cpu_start,
                            "quiet_after_s": ended - started + settle,
                        }
                    )
                client_cpu = proc.tree_cpu_seconds(fleet.pids) - client_cpu_before
                if recording is not None:
                    result["profile_push"] = recording.finish()
                hist_after = histogram_totals(breakwater) if breakwater else (0.0, 0.0)
                result["pushes"] = push_rows
                result["missing"] = sum(p["missing"] for p in push_rows)
                if latencies:
                    result["p50_s"] = percentile(latencies, 50)
                    result["p99_s"] = percentile(latencies, 99)
                    result["max_s"] = max(latencies)
                result["cpu_per_push_s"] = sum(p["cpu_s"] for p in push_rows) / max(1, pushes)
                result["cpu_until_quiet_per_push_s"] = sum(
                    p["cpu_until_quiet_s"] for p in push_rows
                ) / max(1, pushes)
                result["quiet_after_s"] = max(p["quiet_after_s"] for p in push_rows)
                result["client_cpu_per_push_s"] = client_cpu / max(1, pushes)
                observed = hist_after[1] - hist_before[1]
                result["server_change_to_ack_mean_s"] = (
                    (hist_after[0] - hist_before[0]) / observed if observed else None
                )
                result["server_change_to_ack_count"] = observed
    return result


def cold_connect(
    streams: int,
    workdir: Path,
    *,
    mode: Mode = "sotw",
    timeout: float = 90.0,
    launcher: list[str] | None = None,
) -> dict[str, Any]:
    """A whole fleet connecting to a server that has just started (a restart, a failover).

    Unlike `run_size` there is no probe stream: the first proxy's group is new, so
    its snapshot is built on connect and its change is pending until every
    proxy of the group is synced.
    """
    policies = write_policies(workdir / "fanout-policies", FANOUT_SERVICES)
    server_dir = workdir / f"cold-{mode}-{streams}"
    result: dict[str, Any] = {"streams": streams, "mode": mode, "timeout_s": timeout}
    with BreakwaterServer(policies, server_dir, launcher=launcher) as server:
        time.sleep(1.0)
        cpu_before = server.cpu_seconds()
        config = FleetConfig(server.xds_address, streams, mode=mode)
        with FleetProcesses(config, default_processes(streams)) as fleet:
            connect = fleet.start(timeout)
            result["connect"] = connect
            result["synced"] = connect["synced"]
            result["connect_s"] = connect["elapsed"]
            result["connect_cpu_s"] = server.cpu_seconds() - cpu_before
    return result


UVLOOP_LAUNCHER = (
    "import asyncio, sys, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
    "from breakwater.cli import main; sys.exit(main(sys.argv[1:]))"
)
"""``breakwater`` with uvloop's event loop in place of asyncio's (``--event-loop uvloop``)."""


def command_for(
    streams: int, mode: Mode, pushes: int, server: ServerKind = "breakwater", workers: int = 0
) -> str:
    command = (
        f".venv/bin/python -m bench.fanout --streams {streams} --mode {mode} --pushes {pushes}"
    )
    if server != "breakwater":
        return f"{command} --server {server}"
    return f"{command} --workers {workers}" if workers else command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--mode", choices=["sotw", "delta"], default="sotw")
    parser.add_argument("--pushes", type=int, default=3)
    parser.add_argument("--connect-timeout", type=float, default=120.0)
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--profile", action="store_true", help="py-spy the server")
    parser.add_argument(
        "--event-loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the event loop Breakwater's serve runs on (uvloop must be installed)",
    )
    parser.add_argument(
        "--server",
        choices=["breakwater", "go", "java"],
        default="breakwater",
        help="the ADS server to drive: Breakwater, or a peer built by `make bench`",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Breakwater's `serve --workers` (default 0: the streams served by one process)",
    )
    parser.add_argument(
        "--cold", action="store_true", help="only connect, to a server that just started"
    )
    args = parser.parse_args()
    if args.cold:
        print(json.dumps(cold_connect(args.streams, args.workdir, mode=args.mode)))
        return
    result = run_size(
        args.streams,
        args.workdir,
        mode=args.mode,
        pushes=args.pushes,
        connect_timeout=args.connect_timeout,
        profile=args.profile,
        server_kind=args.server,
        workers=args.workers,
        launcher=[sys.executable, "-c", UVLOOP_LAUNCHER] if args.event_loop == "uvloop" else None,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
