"""What a push costs the ADS server per stream, without the rest of the control plane.

The real `XdsServer` (`AdsServicer`, `SnapshotCache`) runs in a process of its own on
uvloop and serves the fan-out resources recorded from Breakwater
(`bench.peers.resources`: the very snapshots the peers serve). A push is the next
recorded snapshot, made with the one before as the reconciler makes it; no API,
store, debounce or translation. N simulated proxies (`bench.loadgen`) ACK everything.
Per push: the server's CPU seconds until every proxy received the new routes and
until it was idle again, the load generator's CPU seconds, and the change → receipt
p99. The server also reports what its cyclic garbage collector did meanwhile
(collections and CPU seconds per generation, from `gc.callbacks`) and the young
generation's count after each push.

Run: ``python -m bench.push_cost --streams 10000 --pushes 6`` (prints JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2  # noqa: F401 (registers the type)
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: F401
from envoy.config.listener.v3 import listener_pb2  # noqa: F401
from envoy.config.route.v3 import route_pb2  # noqa: F401
from google.protobuf import any_pb2, symbol_database

from bench import proc
from bench.fanout import percentile
from bench.loadgen import FleetConfig, FleetProcesses, default_processes
from bench.peers.resources import recorded
from bench.scenario import WEIGHTS

ROOT = Path(__file__).resolve().parents[1]
GROUP = "edge"


class Collections:
    """Collections and thread CPU seconds per generation, counted by the collector's callbacks."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
            return
        generation = info["generation"]
        self.counts[generation] += 1
        self.seconds[generation] += time.thread_time() - self._started

    def report(self) -> dict[str, Any]:
        return {
            "collections": list(self.counts),
            "collector_s": [round(s, 3) for s in self.seconds],
            "young_count": gc.get_count()[0],
        }


def load(directory: Path, index: int, pool: dict[bytes, Any]) -> dict[str, list[Any]]:
    """Recorded snapshot `index` as resources by type; the same bytes give the same object."""
    from breakwater.controlplane.xds.resources import Resource

    database = symbol_database.Default()
    by_type: dict[str, list[Any]] = {}
    for line in (directory / f"snapshot-{index}.txt").read_text().splitlines():
        type_url, encoded = line.split("\t")
        raw = base64.b64decode(encoded)
        resource = pool.get(raw)
        if resource is None:
            packed = any_pb2.Any.FromString(raw)
            message = database.GetSymbol(packed.type_url.split("/")[-1]).FromString(packed.value)
            resource = pool[raw] = Resource.from_message(message)
        by_type.setdefault(type_url, []).append(resource)
    return by_type


async def serve(directory: Path) -> None:
    """The server process: prints its port, then publishes snapshot i for each `i` on stdin."""
    from breakwater.controlplane.xds.cache import SnapshotCache
    from breakwater.controlplane.xds.resources import Snapshot
    from breakwater.controlplane.xds.server import XdsServer

    collections = Collections()
    pool: dict[bytes, Any] = {}
    states = [load(directory, i, pool) for i in range(len(WEIGHTS) + 1)]
    cache = SnapshotCache()
    current = Snapshot(states[0])
    cache.set_snapshot(GROUP, current)
    server = XdsServer(cache, port=0)
    print(await server.start(), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() != "report":
            current = Snapshot(states[int(line)], previous=current)
            cache.set_snapshot(GROUP, current)
        print(json.dumps(collections.report()), flush=True)
    await server.stop(0)


def measure(streams: int, pushes: int, workdir: Path) -> dict[str, Any]:
    snapshots = recorded(workdir / "peer-snapshots")
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.push_cost", "--serve", str(snapshots)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert server.stdin is not None and server.stdout is not None
    ask_in, ask_out = server.stdin, server.stdout

    def ask(command: str) -> dict[str, Any]:
        ask_in.write(command + "\n")
        ask_in.flush()
        reply: dict[str, Any] = json.loads(ask_out.readline())
        return reply

    target = f"127.0.0.1:{int(ask_out.readline())}"
    result: dict[str, Any] = {"streams": streams, "load_before": round(os.getloadavg()[0], 2)}
    try:
        cpu = proc.cpu_seconds(server.pid)
        with FleetProcesses(FleetConfig(target, streams), default_processes(streams)) as fleet:
            connect = fleet.start(150)
            result["synced"] = connect["synced"]
            result["connect_cpu_s"] = proc.cpu_seconds(server.pid) - cpu
            time.sleep(2.0)
            result["after_connect"] = ask("report")
            rows: list[dict[str, Any]] = []
            for index in range(pushes):
                fleet.mark()
                cpu, clients = proc.cpu_seconds(server.pid), proc.tree_cpu_seconds(fleet.pids)
                started = time.monotonic()
                ask(str(index % len(WEIGHTS) + 1))
                times, missing = fleet.wait_changed(60)
                received_cpu = proc.cpu_seconds(server.pid) - cpu
                client_cpu = proc.tree_cpu_seconds(fleet.pids) - clients
                proc.wait_quiet(server.pid, timeout=20)
                these = [t - started for t in times]
                rows.append(
                    {
                        "cpu_s": round(received_cpu, 3),
                        "cpu_until_quiet_s": round(proc.cpu_seconds(server.pid) - cpu, 3),
                        "client_cpu_s": round(client_cpu, 3),
                        "p99_s": round(percentile(these, 99), 3) if these else None,
                        "missing": missing,
                        **ask("report"),
                    }
                )
            result["pushes"] = rows
            for field in ("cpu_s", "cpu_until_quiet_s", "client_cpu_s"):
                result[f"{field}_per_push"] = round(sum(r[field] for r in rows) / pushes, 3)
    finally:
        ask_in.close()
        server.wait(30)
    result["load_after"] = round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--pushes", type=int, default=6)
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        import uvloop

        uvloop.run(serve(args.serve))
        return
    print(json.dumps(measure(args.streams, args.pushes, args.workdir)))


if __name__ == "__main__":
    main()
