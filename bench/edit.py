"""Edit benchmark: how long a policy change in a mesh of N services takes to reach a proxy.

The policy directory is `bench/policies.py`'s shape (one gateway, N services,
each with a breaker, bulkhead, retry, health check and a 90/10 route). One
simulated Envoy holds one ADS stream (State of the World: CDS and LDS as
wildcards, then EDS and RDS for what they name, every response ACKed), and a
separate process polls `/healthz` every 50 ms, so a control plane that stops
answering while it works shows up as a long poll. Measured, in one run:

* start: `breakwater serve` spawned until `/readyz` answers (the first proxy can
  be served), and until that proxy holds its first complete config;
* file edit: one weight changed in one file until the proxy holds the new route;
* API write: one weight written through the admin API until the proxy holds it;
* the longest `/healthz` answer during each, and the server's RSS at the end;
* restart: the server stopped and started again on the same files and state
  directory, until a fresh proxy holds the config (the edit and the write included).

`python -m bench.edit --services N` prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import discovery_pb2

from bench import proc
from bench.loadgen import (
    CDS,
    EDS,
    EOF,
    LDS,
    RDS,
    eds_names,
    rds_names,
    sotw_stream,
)
from bench.policies import FILE_CHUNK, NODE_CLUSTER, service_name, write_policies
from bench.profile import Recording
from bench.server import BreakwaterServer
from breakwater.client import http
from breakwater.defaults import DEBOUNCE_QUIET, POLICY_POLL_INTERVAL
from breakwater.devtools.ports import LOOPBACK

ROOT = Path(__file__).resolve().parents[1]
POLL_INTERVAL = 0.05
TIMEOUT = 120.0
RUNS = Path(__file__).with_name("edit_runs.md")
"""Paired runs of two commits, kept apart so that rewriting BENCHMARKS.md keeps them."""
FILE_ROUTE = service_name(0)
"""The route whose weights the file edit changes (90/10 → 80/20)."""
API_ROUTE = service_name(1)
"""The route whose weights the API write changes (90/10 → 70/30)."""

Poll = tuple[float, float]
"""(sent, answered) monotonic times of one /healthz poll; CLOCK_MONOTONIC is system-wide."""


def _poll_health(url: str, stop: Connection) -> None:
    """Poll `url` every POLL_INTERVAL until told to stop; send back every (sent, answered)."""
    polls: list[Poll] = []
    next_at = time.monotonic()
    while not stop.poll(max(0.0, next_at - time.monotonic())):
        sent = time.monotonic()
        with contextlib.suppress(OSError):  # a refused poll ends too; its time is what counts
            http("GET", url, timeout=30)
        polls.append((sent, time.monotonic()))
        next_at = sent + POLL_INTERVAL
    stop.send(polls)


def longest_stall(polls: list[Poll], start: float, end: float) -> float:
    """The longest poll that was in flight at some moment in [start, end]."""
    return max((done - sent for sent, done in polls if done >= start and sent <= end), default=0.0)


class Proxy:
    """One ADS stream subscribed like Envoy; remembers when each route's weights arrived."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.synced = asyncio.Event()
        self.acked: set[str] = set()
        self.subscribed: dict[str, list[str]] = {}
        self.routes: route_pb2.RouteConfiguration | None = None
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with sotw_stream(self.target, "bench-edit", NODE_CLUSTER) as call:
            await call.write(discovery_pb2.DiscoveryRequest(type_url=LDS))
            while True:
                response: Any = await call.read()
                if response is EOF:
                    return
                values = [r.value for r in response.resources]
                if response.type_url == CDS:
                    await self._follow(call, EDS, sorted(eds_names(values)))
                elif response.type_url == LDS:
                    await self._follow(call, RDS, sorted(rds_names(values)))
                elif response.type_url == RDS and values:
                    self.routes = route_pb2.RouteConfiguration.FromString(values[0])
                    self.changed.set()
                await call.write(
                    discovery_pb2.DiscoveryRequest(
                        type_url=response.type_url,
                        version_info=response.version_info,
                        response_nonce=response.nonce,
                        resource_names=self.subscribed.get(response.type_url, []),
                    )
                )
                self.acked.add(response.type_url)
                if self.acked >= {CDS, EDS, LDS, RDS}:
                    self.synced.set()

    async def _follow(self, call: Any, type_url: str, names: list[str]) -> None:
        if self.subscribed.get(type_url) != names:
            self.subscribed[type_url] = names
            await call.write(
                discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=names)
            )

    def weights(self, route: str) -> tuple[int, ...]:
        """The weights of the route's first Envoy route, as the proxy holds them."""
        if self.routes is None:
            return ()
        for host in self.routes.virtual_hosts:
            if host.name == route:
                clusters = host.routes[0].route.weighted_clusters.clusters
                return tuple(c.weight.value for c in clusters)
        return ()

    async def until(self, check: Callable[[], bool], timeout: float = TIMEOUT) -> float:
        """Wait until `check()` holds after an RDS update; returns when it first did."""
        deadline = time.monotonic() + timeout
        while not check():
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the proxy never received the change")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return time.monotonic()


def _edit_weights(path: Path, route: str, before: str, after: str) -> None:
    """Change one route's backends line in place (the file keeps every other byte)."""
    text = path.read_text()
    marker = f"{{service: {route}, subset: stable, weight: {before.split('/')[0]}}}"
    first, second = after.split("/")
    old_second = before.split("/")[1]
    replaced = text.replace(marker, f"{{service: {route}, subset: stable, weight: {first}}}", 1)
    replaced = replaced.replace(
        f"{{service: {route}, subset: canary, weight: {old_second}}}",
        f"{{service: {route}, subset: canary, weight: {second}}}",
        1,
    )
    if replaced == text:
        raise RuntimeError(f"route {route} not found in {path}")
    path.write_text(replaced)


async def _scenario(
    server: BreakwaterServer, directory: Path, spawned: float, profile: Path | None, edits: int
) -> dict[str, Any]:
    proxy = Proxy(server.xds_address)
    proxy.task = asyncio.create_task(proxy.run())
    try:
        await asyncio.wait_for(proxy.synced.wait(), TIMEOUT)
        first_config = time.monotonic()
        recording = None if profile is None else Recording(server.pid, 8.0, profile)
        await asyncio.sleep(0.5 if recording is not None else 0.0)

        edited, cpu = time.monotonic(), server.cpu_seconds()
        _edit_weights(directory / f"services-{0:05d}.yaml", FILE_ROUTE, "90/10", "80/20")
        file_done = await proxy.until(lambda: proxy.weights(FILE_ROUTE) == (80, 20))
        file_cpu = server.cpu_seconds() - cpu
        each = [file_cpu, *await _more_edits(server, proxy, directory, edits - 1)]

        await asyncio.sleep(1.0)  # let the server settle after the edit
        written, cpu = time.monotonic(), server.cpu_seconds()
        await asyncio.to_thread(server.set_weights, API_ROUTE, {"stable": 70, "canary": 30})
        api_done = await proxy.until(lambda: proxy.weights(API_ROUTE) == (70, 30))
        api_cpu = server.cpu_seconds() - cpu
        top = [] if recording is None else await asyncio.to_thread(recording.finish)
        return {
            "profile": [f"{share:6.1%} {frame}" for share, frame in top],
            "first_config_s": first_config - spawned,
            "file_edit": (edited, file_done),
            "api_write": (written, api_done),
            "file_edit_cpu_s": file_cpu,
            "file_edits_cpu_s": each,
            "api_write_cpu_s": api_cpu,
        }
    finally:
        proxy.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await proxy.task


def _holds(proxy: Proxy, wanted: tuple[int, ...]) -> bool:
    return proxy.weights(FILE_ROUTE) == wanted


async def _more_edits(
    server: BreakwaterServer, proxy: Proxy, directory: Path, count: int
) -> list[float]:
    """The server's CPU seconds for each of `count` more edits of the same weights (80/20
    → 90/10 and back, in pairs, so the route ends as the first edit left it), 0.6 s apart:
    one edit's CPU is a few 10 ms ticks, so one figure says little."""
    cpus: list[float] = []
    for at in range(count - count % 2):
        before, after = ("80/20", "90/10") if at % 2 == 0 else ("90/10", "80/20")
        await asyncio.sleep(0.6)
        cpu = server.cpu_seconds()
        _edit_weights(directory / f"services-{0:05d}.yaml", FILE_ROUTE, before, after)
        wanted = tuple(int(weight) for weight in after.split("/"))
        await proxy.until(functools.partial(_holds, proxy, wanted))
        cpus.append(server.cpu_seconds() - cpu)
    return cpus


def measure(
    services: int, workdir: Path, profile: Path | None = None, edits: int = 1
) -> dict[str, Any]:
    """One run; with `profile`, py-spy records the server from just before the file edit;
    `edits` > 1 edits the file again that many times less one (rounded down to pairs)."""
    directory = write_policies(workdir / f"edit-policies-{services}", services)
    server = BreakwaterServer(directory, workdir / f"edit-server-{services}", log_level="info")
    server.log_path.unlink(missing_ok=True)  # the stage lines reported are this run's
    here, there = multiprocessing.Pipe()
    poller = multiprocessing.Process(
        target=_poll_health, args=(server.admin_url + "/healthz", there), daemon=True
    )
    starting = threading.Thread(target=server.start, kwargs={"timeout": TIMEOUT * 2})
    try:
        spawned = time.monotonic()
        starting.start()
        while True:
            try:
                if http("GET", server.admin_url + "/readyz", timeout=5).status == 200:
                    break
            except OSError:
                pass
            if not starting.is_alive() and not server.running:
                raise RuntimeError("breakwater serve did not start")
            time.sleep(0.02)
        ready = time.monotonic()
        starting.join()
        poller.start()
        time.sleep(0.5)  # a baseline of polls before anything changes
        result = asyncio.run(_scenario(server, directory, spawned, profile, edits))
        time.sleep(0.3)
        here.send("stop")
        polls: list[Poll] = here.recv()
        edit_start, edit_end = result["file_edit"]
        api_start, api_end = result["api_write"]
        rss = server.rss_bytes() / 2**20
        restart_s, restart_cpu_s = _restart(server)
        return {
            "services": services,
            "start_s": ready - spawned,
            "restart_s": restart_s,
            "restart_cpu_s": restart_cpu_s,
            "first_config_s": result["first_config_s"],
            "file_edit_s": edit_end - edit_start,
            "file_edit_stall_s": longest_stall(polls, edit_start, edit_end),
            "file_edit_cpu_s": result["file_edit_cpu_s"],
            "file_edits_cpu_s": result["file_edits_cpu_s"],
            "api_write_s": api_end - api_start,
            "api_write_stall_s": longest_stall(polls, api_start, api_end),
            "api_write_cpu_s": result["api_write_cpu_s"],
            "idle_poll_s": longest_stall(polls, polls[0][0], polls[0][0] + 0.4) if polls else 0.0,
            "rss_mib": rss,
            "files": -(-services // FILE_CHUNK) + 1,
            "profile": result["profile"],
            "log": _stage_lines(server),
        }
    finally:
        if poller.is_alive():
            poller.terminate()
        server.stop()


def _restart(server: BreakwaterServer) -> tuple[float, float]:
    """Stop the server, start it again on the same files and state; seconds from the spawn
    until a fresh proxy holds the config, the file edit and the API write included, and
    the CPU seconds the new server used until then (steadier than the time on a busy
    machine; they include whatever of its first read ran meanwhile)."""
    server.stop()
    spawned = time.monotonic()
    server.start(TIMEOUT * 2, keep_state=True, ready=False)
    _wait_listening(server.xds_port)

    async def fresh_proxy() -> tuple[float, float]:
        proxy = Proxy(server.xds_address)
        proxy.task = asyncio.create_task(proxy.run())
        try:
            held = await proxy.until(
                lambda: (
                    proxy.weights(FILE_ROUTE) == (80, 20) and proxy.weights(API_ROUTE) == (70, 30)
                )
            )
            return held, server.cpu_seconds()
        finally:
            proxy.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await proxy.task

    held, cpu = asyncio.run(fresh_proxy())
    return held - spawned, cpu


def _wait_listening(port: int, timeout: float = TIMEOUT) -> None:
    """Until the port accepts a connection: the proxy dials the moment it can, as Envoy
    retrying its xDS cluster does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _stage_lines(server: BreakwaterServer) -> list[str]:
    """The server's own account of where start and each change spent their time."""
    try:
        lines = server.log_path.read_text().splitlines()
    except OSError:
        return []
    return [line for line in lines if " in " in line and ("read" in line or "translat" in line)][
        -8:
    ]


TARGETS: dict[int, dict[str, float]] = {
    10000: {
        "start_s": 3.0,
        "restart_s": 2.0,
        "file_edit_s": 0.3,
        "file_edit_stall_s": 0.05,
        "api_write_s": 0.2,
        "api_write_stall_s": 0.05,
        "rss_mib": 400.0,
    },
    1000: {"file_edit_s": 0.3},
}
"""Issue 29's targets, by mesh size."""

BEFORE: dict[int, dict[str, float]] = {
    10000: {
        "start_s": 16.2,
        "first_config_s": 20.1,
        "restart_s": 17.7,
        "file_edit_s": 2.1,
        "file_edit_stall_s": 0.17,
        "api_write_s": 1.1,
        "api_write_stall_s": 0.27,
        "rss_mib": 848.0,
    },
    1000: {"file_edit_s": 0.28, "api_write_s": 0.18},
}
"""The same figures before this round (issue 29's measurements of main)."""

FIGURES = (
    ("start_s", "serve start → first proxy can be served (s)"),
    ("first_config_s", "serve start → the proxy holds its first config (s)"),
    ("restart_s", "restart on unchanged files and state → a fresh proxy holds the config (s)"),
    ("restart_cpu_s", "server CPU seconds for that restart, until then"),
    ("file_edit_s", "one weight changed in one file → the proxy holds it (s)"),
    ("file_edit_cpu_s", "server CPU seconds for that edit (includes the watcher's polls)"),
    ("file_edit_stall_s", "longest /healthz answer during that edit (s)"),
    ("api_write_s", "weight written through the API → the proxy holds it (s)"),
    ("api_write_cpu_s", "server CPU seconds for that write"),
    ("api_write_stall_s", "longest /healthz answer during that write (s)"),
    ("rss_mib", "server RSS at the end (MiB)"),
)


def render_section(rows: list[dict[str, Any]]) -> list[str]:
    """The BENCHMARKS.md section of `make bench` for these runs (one per mesh size)."""
    out = [
        "## Policy edits in a large mesh",
        "",
        "`bench/policies.py`'s shape (one gateway, N services, each with a breaker, bulkhead,",
        "retry, health check and a 90/10 route) served by `breakwater serve` in its own",
        "process; one simulated Envoy on one ADS stream (SotW, subscribing as Envoy does);",
        "`/healthz` polled every 50 ms from another process. The directory watcher's",
        f"poll ({POLICY_POLL_INTERVAL:g} s) and the debounce ({DEBOUNCE_QUIET:g} s quiet) are part of",
        "the file-edit figure; the debounce is part of the API-write figure.",
        "",
    ]
    for row in rows:
        if "failed" in row:
            out += [f"{row.get('services', '?')} services: failed: {row['failed']}", ""]
            continue
        services = row["services"]
        targets, before = TARGETS.get(services, {}), BEFORE.get(services, {})
        out += [
            f"{services} services (`{command_for(services)}`):",
            "",
            "| | before (issue 29) | now | target | verdict |",
            "|---|---:|---:|---:|---|",
        ]
        for key, label in FIGURES:
            value, target = row.get(key), targets.get(key)
            verdict = "—"
            if target is not None and value is not None:
                verdict = (
                    "met" if value < target else f"**missed** ({value / target:.1f}x the target)"
                )
            old = before.get(key)
            out.append(
                f"| {label} | {'—' if old is None else f'{old:g}'} | "
                f"{'—' if value is None else f'{value:.3f}'} | "
                f"{'—' if target is None else f'< {target:g}'} | {verdict} |"
            )
        out.append("")
        if row.get("log"):
            out += ["The server's log of that run:", "", "```", *row["log"], "```", ""]
    for key, what in (("file_edit_s", "time"), ("file_edit_cpu_s", "server CPU")):
        ratio = _edit_ratio(rows, key)
        if ratio is not None:
            out += [
                f"The same file edit at {ratio[0]} and {ratio[1]} services, {what}: "
                f"{ratio[2]:.2f}x (target: within 1.5x).",
                "",
            ]
    out += [
        "Where the time goes (py-spy of the server during the edits:",
        "`.venv/bin/python -m bench.edit --services 10000 --profile build/bench/edit.prof`,",
        "summarized by `bench/profile.py`; cProfile of the same steps in one process",
        "for the parts):",
        "",
        "* An edit of route rules (a weight in a file, a weight through the API) is checked",
        "  and translated by the changed routes alone (`translators/route_edits.py`,",
        "  `route_patch.py`): their merged policies, their virtual hosts, the route",
        "  configuration joined again from its hosts' encoded bytes. What is left grows",
        "  with the mesh but is a walk over identities, not work per piece: the files'",
        "  fingerprint and version (21 files), comparing 30 000 documents by identity,",
        "  copying the name → document maps, the document statuses, and joining the one",
        "  route configuration of 10 000 virtual hosts (its version comes from the hosts'",
        "  kept digests; the reference check looks only at references that changed).",
        "* Start is reading: every file parsed (libyaml composes; a plain document is then",
        "  read in one walk that takes its data and the line of every node together),",
        "  each of 30 000 documents validated by pydantic, the merges (one per distinct",
        "  set of layers), then the first translation (clusters of equal policies spliced",
        "  from one encoding). A restart on unchanged files and state serves the",
        "  snapshots kept in the state directory at once (`state/snapshot_store.py`) while",
        "  the read and the translation run; pydantic and libyaml per document are where",
        "  Python is the limit on a cold start.",
        "* RSS: valid documents are held compactly (no raw YAML data, their lines read",
        "  again only for an error, `translators/compact.py`) and equal parts of documents",
        "  and merged policies are one object (`translators/shared_parts.py`); what is",
        "  left is the imports, the pydantic models, the builder's cached pieces and the",
        "  encoded snapshot (`python -m bench.memory --services 10000` part by part).",
        "",
        *RUNS.read_text().splitlines(),
        "",
    ]
    return out


def _edit_ratio(rows: list[dict[str, Any]], key: str) -> tuple[int, int, float] | None:
    """(smallest mesh, largest, how many times more the file edit took in the largest)."""
    timed = sorted((row["services"], row[key]) for row in rows if key in row)
    if len(timed) < 2 or timed[0][1] <= 0:
        return None
    return timed[0][0], timed[-1][0], timed[-1][1] / timed[0][1]


def command_for(services: int) -> str:
    return f".venv/bin/python -m bench.edit --services {services}"


def run_isolated(services: int, workdir: Path, timeout: float = 900) -> dict[str, Any]:
    """`measure` in a fresh interpreter, as `make bench` runs it."""
    arguments = ["--services", str(services), "--workdir", str(workdir)]
    return proc.run_module_json("bench.edit", arguments, timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument(
        "--profile", type=Path, help="record the server with py-spy during the edits, to this file"
    )
    parser.add_argument(
        "--edits",
        type=int,
        default=1,
        help="edit the file this many times (the server's CPU of each in file_edits_cpu_s)",
    )
    args = parser.parse_args()
    print(json.dumps(measure(args.services, args.workdir, args.profile, args.edits)))


if __name__ == "__main__":
    main()
