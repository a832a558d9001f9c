"""Side by side with Sovereign, a REST-polling Python control plane (PyPI ``sovereign``).

Sovereign is installed into its own virtualenv (``build/sovereign-venv``,
made here with ``python3.11 -m venv`` and pip) so that none of its
dependencies touch Breakwater's. It serves the same resources Breakwater
renders for the fan-out policy set: the clusters, endpoints, listener and
route configuration are written out in Envoy's JSON by Breakwater's own
translator, and Sovereign's Python templates hand them out, with each
route's weights taken from Sovereign's source (a JSON file of instances).
Python templates are Sovereign's cheapest kind (no Jinja rendering, no YAML
parsing), which is the most favourable setup for it.

A change is a rewrite of the source file; Sovereign re-reads sources every
``source_config.refresh_rate`` seconds (set to 1, its smallest value; the
default is 30).

The clients behave as Envoy does with ``api_type: REST``: every
``refresh_delay`` (Envoy's default, 1 s) after its last answer, each subscription POSTs
``/v3/discovery:{clusters,endpoints,listeners,routes}`` with the
``version_info`` it holds and gets either ``200`` with a new version or
``304``. Clients are spread over a few processes sharing keep-alive
connection pools (a real fleet would hold one connection per proxy).

Measured per fleet size: the time from the change until every client holds
the new route version (p50, p99, max, and how many never got it within the
bound), Sovereign's CPU seconds per wall second while nothing changes (all
its processes), the poll rate it actually sustained, and errors.

Run one size: ``python -m bench.sovereign --clients 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import proc
from bench.fanout import percentile
from bench.policies import NODE_CLUSTER, service_name, write_policies
from bench.scenario import FANOUT_SERVICES, WEIGHTS
from bench.workers import WorkerPool
from breakwater.devtools.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "build" / "sovereign-venv"
POLL_INTERVAL = 1.0
"""Envoy's default ``refresh_delay`` for REST subscriptions."""
SOURCE_REFRESH = 1
"""Sovereign's ``source_config.refresh_rate`` (whole seconds; its default is 30)."""
XDS_TYPES = ("clusters", "endpoints", "listeners", "routes")
POOL_PER_PROCESS = 256

TEMPLATE = '''"""Sovereign template: serves {kind} rendered by Breakwater, weights from the source."""
import copy
import json

with open({resources!r}) as handle:
    RESOURCES = json.load(handle)[{kind!r}]


def call(instances, discovery_request, **kwargs):
    resources = RESOURCES
    if {kind!r} == "routes":
        weights = {{}}
        for instance in instances:
            for subset, weight in instance["weights"].items():
                weights[instance["name"] + "|" + subset] = weight
        resources = copy.deepcopy(RESOURCES)
        for config in resources:
            for vhost in config.get("virtual_hosts", []):
                for route in vhost.get("routes", []):
                    split = route.get("route", {{}}).get("weighted_clusters")
                    for cluster in (split or {{}}).get("clusters", []):
                        if cluster["name"] in weights:
                            cluster["weight"] = weights[cluster["name"]]
    names = set(discovery_request.resource_names)
    return [r for r in resources if not names or (r.get("name") or r.get("cluster_name")) in names]
'''


# -- installation and configuration --------------------------------------------


def install(venv: Path = VENV, timeout: float = 600) -> str:
    """Make the virtualenv and install the latest sovereign; returns its version."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True, timeout=120)
    if not (venv / "bin" / "sovereign").exists():
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "sovereign"],
            check=True,
            timeout=timeout,
        )
    out = subprocess.run(
        [str(python), "-m", "pip", "show", "sovereign"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def instances(weights: tuple[int, int]) -> list[dict[str, Any]]:
    stable, canary = weights
    return [
        {
            "name": service_name(i),
            "service_clusters": [NODE_CLUSTER],
            "weights": {"stable": stable, "canary": canary}
            if i == 0
            else {"stable": 90, "canary": 10},
        }
        for i in range(FANOUT_SERVICES)
    ]


def write_source(path: Path, weights: tuple[int, int]) -> None:
    """Replace the source file atomically, as a config management tool would."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(instances(weights)))
    temporary.replace(path)


def configure(workdir: Path) -> tuple[Path, Path]:
    """Write resources, templates, source and config; returns (config, source) paths."""
    from breakwater.controlplane.state.sources import load_policy_files
    from breakwater.translators.snapshot import node_group, to_config_dump, translate

    workdir.mkdir(parents=True, exist_ok=True)
    policies = write_policies(workdir / "policies", FANOUT_SERVICES)
    _, loaded = load_policy_files(policies)
    policyset = loaded.policyset
    if policyset is None:
        raise RuntimeError(f"fan-out policies do not load: {loaded.errors[:3]}")
    dump = to_config_dump(translate(policyset, node_group(policyset, NODE_CLUSTER, {})))
    resources = workdir / "resources.json"
    resources.write_text(json.dumps(dump))
    specs = []
    for kind in XDS_TYPES:
        template = workdir / f"template_{kind}.py"
        template.write_text(TEMPLATE.format(kind=kind, resources=str(resources)))
        specs.append(
            {
                "type": kind,
                "spec": {"protocol": "python", "serialization": "raw", "path": str(template)},
            }
        )
    source = workdir / "instances.json"
    write_source(source, (90, 10))
    config = {
        "templates": {"default": specs},
        "sources": [{"type": "file", "config": {"path": f"file+json://{source}"}}],
        "source_config": {"refresh_rate": SOURCE_REFRESH},
        "matching": {"enabled": False},
        "logging": {"access_logs": {"enabled": False}, "application_logs": {"enabled": False}},
    }
    path = workdir / "sovereign.json"
    path.write_text(json.dumps(config, indent=2))
    return path, source


class SovereignServer:
    def __init__(self, config: Path, workdir: Path, venv: Path = VENV) -> None:
        self.config = config
        self.workdir = workdir
        self.venv = venv
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "sovereign.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid, *proc.children(self.process.pid)]

    def start(self, timeout: float = 60.0) -> SovereignServer:
        env = dict(os.environ)
        env.update(
            {
                "SOVEREIGN_CONFIG": f"file+json://{self.config}",
                "SOVEREIGN_HOST": "127.0.0.1",
                "SOVEREIGN_PORT": str(self.port),
                "SOVEREIGN_ENABLE_ACCESS_LOGS": "false",
            }
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.venv / "bin" / "sovereign")],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        from breakwater.client import http

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sovereign exited: {self.log_tail()}")
            with contextlib.suppress(OSError):
                if http("GET", self.url + "/healthcheck", timeout=2).status == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"sovereign not answering after {timeout}s: {self.log_tail()}")

    def workers(self) -> int:
        return len(proc.children(self.process.pid)) if self.process else 0

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 15)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, 9)
                self.process.wait()
        self.process = None


# -- REST polling clients -------------------------------------------------------


class RestFleet:
    """Envoy-style REST subscriptions, one poll loop per proxy and type."""

    def __init__(self, url: str, clients: int, first: int, interval: float) -> None:
        self.url = url
        self.clients = clients
        self.first = first
        self.interval = interval
        self.versions: list[dict[str, str]] = [{} for _ in range(clients)]
        self.route_at: list[float] = [0.0] * clients
        self.baseline: list[str] = []
        self.requests = 0
        self.not_modified = 0
        self.errors = 0
        self.last_error = ""
        self.tasks: list[asyncio.Task[None]] = []
        self.session: Any = None

    async def start(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL_PER_PROCESS),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        for index in range(self.clients):
            for kind in XDS_TYPES:
                self.tasks.append(asyncio.create_task(self._poll(index, kind)))

    async def _poll(self, index: int, kind: str) -> None:
        node = {"id": f"rest-{self.first + index}", "cluster": NODE_CLUSTER}
        url = f"{self.url}/v3/discovery:{kind}"
        held = self.versions[index]
        await asyncio.sleep(random.uniform(0, self.interval))
        while True:
            body = {"node": node, "version_info": held.get(kind, "0"), "resource_names": []}
            try:
                async with self.session.post(url, json=body) as response:
                    self.requests += 1
                    if response.status == 200:
                        payload = await response.json(content_type=None)
                        version = str(payload.get("version_info", ""))
                        if version != held.get(kind):
                            held[kind] = version
                            if kind == "routes":
                                self.route_at[index] = time.monotonic()
                    elif response.status == 304:
                        self.not_modified += 1
                        await response.read()
                    else:
                        self.errors += 1
                        self.last_error = f"HTTP {response.status}"
                        await response.read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.requests += 1
                self.errors += 1
                self.last_error = repr(exc)[:200]
            # Envoy arms the refresh timer when a response has been handled.
            await asyncio.sleep(self.interval)

    def counters(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "not_modified": self.not_modified,
            "errors": self.errors,
            "last_error": self.last_error,
            "holding": sum(1 for v in self.versions if len(v) == len(XDS_TYPES)),
        }

    def mark(self) -> dict[str, Any]:
        self.baseline = [v.get("routes", "") for v in self.versions]
        return {"marked": len(self.baseline)}

    async def wait_changed(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            pending = [
                i for i, v in enumerate(self.versions) if v.get("routes", "") == self.baseline[i]
            ]
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)
        times = [
            self.route_at[i]
            for i, v in enumerate(self.versions)
            if v.get("routes", "") != self.baseline[i]
        ]
        return {"times": times, "missing": len(pending)}

    async def wait_holding(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while self.counters()["holding"] < self.clients and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.counters()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()


async def _worker(url: str, clients: int, first: int, interval: float) -> None:
    fleet = RestFleet(url, clients, first, interval)
    await fleet.start()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            await fleet.close()
            return
        command, arg = json.loads(line)
        if command == "wait_holding":
            reply = await fleet.wait_holding(float(arg))
        elif command == "counters":
            reply = fleet.counters()
        elif command == "mark":
            reply = fleet.mark()
        elif command == "wait_changed":
            reply = await fleet.wait_changed(float(arg))
        else:
            await fleet.close()
            sys.stdout.write(json.dumps({"stopped": True}) + "\n")
            sys.stdout.flush()
            return
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


class RestFleetProcesses(WorkerPool):
    def __init__(self, url: str, clients: int, processes: int, interval: float) -> None:
        def argv(share: int, first: int) -> list[str]:
            return [
                "-m",
                "bench.sovereign",
                "--worker",
                url,
                "--clients",
                str(share),
                "--first",
                str(first),
                "--interval",
                str(interval),
            ]

        super().__init__("REST client", clients, processes, argv)

    def counters(self) -> dict[str, Any]:
        replies = self.ask("counters")
        return {
            "requests": sum(r["requests"] for r in replies),
            "not_modified": sum(r["not_modified"] for r in replies),
            "errors": sum(r["errors"] for r in replies),
            "last_error": next((r["last_error"] for r in replies if r["last_error"]), ""),
            "holding": sum(r["holding"] for r in replies),
        }


# -- the benchmark ----------------------------------------------------------------


def run_size(
    clients: int,
    workdir: Path,
    *,
    warmup_timeout: float = 60.0,
    idle_seconds: float = 10.0,
    change_timeout: float = 60.0,
) -> dict[str, Any]:
    config, source = configure(workdir / "sovereign")
    server = SovereignServer(config, workdir / "sovereign")
    processes = max(1, min(os.cpu_count() or 1, (clients + 999) // 1000))
    result: dict[str, Any] = {
        "clients": clients,
        "poll_interval_s": POLL_INTERVAL,
        "source_refresh_s": SOURCE_REFRESH,
        "client_processes": processes,
    }
    server.start()
    fleet: RestFleetProcesses | None = None
    try:
        fleet = RestFleetProcesses(server.url, clients, processes, POLL_INTERVAL)
        started = time.monotonic()
        holding = sum(
            r["holding"] for r in fleet.ask("wait_holding", warmup_timeout, warmup_timeout + 30)
        )
        result["warmup_s"] = time.monotonic() - started
        result["holding"] = holding
        result["sovereign_processes"] = len(server.pids)
        before = fleet.counters()
        assert server.process is not None
        master = server.process.pid
        cpu_before = proc.process_tree_cpu(master)
        client_cpu_before = proc.tree_cpu_seconds(fleet.pids)
        wall = time.monotonic()
        time.sleep(idle_seconds)
        elapsed = time.monotonic() - wall
        result["idle_cpu_per_s"] = (proc.process_tree_cpu(master) - cpu_before) / elapsed
        result["client_cpu_per_s"] = (
            proc.tree_cpu_seconds(fleet.pids) - client_cpu_before
        ) / elapsed
        after = fleet.counters()
        result["polls_per_s"] = (after["requests"] - before["requests"]) / elapsed
        result["offered_polls_per_s"] = clients * len(XDS_TYPES) / POLL_INTERVAL
        result["not_modified_share"] = (after["not_modified"] - before["not_modified"]) / max(
            1, after["requests"] - before["requests"]
        )
        result["idle_errors"] = after["errors"] - before["errors"]
        fleet.ask("mark")
        stable, canary = WEIGHTS[0]
        started = time.monotonic()
        write_source(source, (stable, canary))
        replies = fleet.ask("wait_changed", change_timeout, change_timeout + 30)
        latencies = [t - started for r in replies for t in r["times"]]
        result["missing"] = sum(r["missing"] for r in replies)
        result["converged"] = len(latencies)
        result["change_timeout_s"] = change_timeout
        if latencies:
            result["p50_s"] = percentile(latencies, 50)
            result["p99_s"] = percentile(latencies, 99)
            result["max_s"] = max(latencies)
        final = fleet.counters()
        result["errors"] = final["errors"]
        result["last_error"] = final["last_error"]
    finally:
        if fleet is not None:
            fleet.stop()
        server.stop()
    return result


def command_for(clients: int) -> str:
    return f".venv/bin/python -m bench.sovereign --clients {clients}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=POLL_INTERVAL, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(_worker(args.worker, args.clients, args.first, args.interval))
        return
    version = install()
    result = run_size(args.clients, args.workdir)
    result["sovereign_version"] = version
    print(json.dumps(result))


if __name__ == "__main__":
    main()
