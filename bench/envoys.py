"""Real Envoys: a fleet of Envoy 1.40 processes converging after a weight change.

Every Envoy runs with ``--concurrency 1`` on the fan-out policy set, in one
node group (node cluster ``edge``), over ADS (SotW or Delta). After all are
LIVE, a weight change goes through the API; the control plane's
``/v1/status`` is polled (every ~10 ms) until each Envoy has ACKed the new
RDS version, and each Envoy's config dump is checked for the new weights.
The change-to-ACK figure per Envoy is the first status poll that shows its
ACK, minus the moment before the PUT (so it is late by up to one poll).

Run: ``python -m bench.envoys --envoys 10``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from bench.fanout import histogram_totals, percentile
from bench.policies import NODE_CLUSTER, write_policies
from bench.scenario import FANOUT_SERVICES, ROUTE, WEIGHTS
from bench.server import BreakwaterServer
from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.memory import rss_bytes
from breakwater.devtools.ports import LOOPBACK, free_ports

ROOT = Path(__file__).resolve().parents[1]


def rds_versions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """node id → (acked RDS version, target RDS version)."""
    found: dict[str, tuple[str, str]] = {}
    for proxy in status.get("proxies", []):
        for entry in proxy.get("types", []):
            if entry.get("type") == "rds":
                found[proxy["node_id"]] = (
                    entry.get("acked_version") or "",
                    entry.get("target_version") or "",
                )
    return found


def envoy_weights(envoy: EnvoyProcess) -> list[int]:
    """Weights of the benchmark route's split as this Envoy holds them."""
    dump = json.loads(envoy.admin("/config_dump?resource=dynamic_route_configs"))
    weights: list[int] = []
    for config in dump.get("configs", []):
        for vhost in config.get("route_config", {}).get("virtual_hosts", []):
            if f"{ROUTE}.example" not in vhost.get("domains", []):
                continue
            for route in vhost.get("routes", []):
                for cluster in (
                    route.get("route", {}).get("weighted_clusters", {}).get("clusters", [])
                ):
                    weights.append(int(cluster.get("weight", 0)))
    return weights


def run(
    count: int,
    workdir: Path,
    *,
    delta: bool = False,
    pushes: int = 3,
    change_timeout: float = 30.0,
) -> dict[str, Any]:
    policies = write_policies(workdir / "envoy-policies", FANOUT_SERVICES)
    result: dict[str, Any] = {"envoys": count, "mode": "delta" if delta else "sotw"}
    with BreakwaterServer(policies, workdir / "envoys-server") as server:
        envoys: list[EnvoyProcess] = []
        try:
            for index, port in enumerate(free_ports(count)):
                bootstrap = render_bootstrap(
                    f"envoy-{index}",
                    NODE_CLUSTER,
                    [(LOOPBACK, server.xds_port)],
                    port,
                    delta=delta,
                )
                envoys.append(
                    EnvoyProcess(bootstrap, log_level="warning", ready_timeout=60).start(
                        wait_ready=False
                    )
                )
            started = time.monotonic()
            for envoy in envoys:
                envoy.wait_ready(60)
            result["ready_s"] = time.monotonic() - started
            result["envoy_rss_mib"] = sum(rss_bytes(e.pid) for e in envoys if e.pid is not None) / (
                2**20 * count
            )
            latencies: list[float] = []
            hist_before = histogram_totals(server)
            weights_ok = True
            for index in range(pushes):
                stable, canary = WEIGHTS[index % len(WEIGHTS)]
                before = rds_versions(server.status())
                started = time.monotonic()
                server.set_weights(ROUTE, {"stable": stable, "canary": canary})
                acked: dict[str, float] = {}
                deadline = started + change_timeout
                while len(acked) < count and time.monotonic() < deadline:
                    now = rds_versions(server.status())
                    seen = time.monotonic()
                    for node, (version, target) in now.items():
                        old = before.get(node, ("", ""))[0]
                        if node not in acked and version and version == target and version != old:
                            acked[node] = seen - started
                    time.sleep(0.01)
                latencies.extend(acked.values())
                result.setdefault("missing", 0)
                result["missing"] += count - len(acked)
                for envoy in envoys:
                    with contextlib.suppress(Exception):
                        weights_ok &= envoy_weights(envoy) == [stable, canary]
                time.sleep(0.3)
            hist_after = histogram_totals(server)
            observed = hist_after[1] - hist_before[1]
            result["weights_in_config_dump"] = weights_ok
            if latencies:
                result["p50_s"] = percentile(latencies, 50)
                result["p99_s"] = percentile(latencies, 99)
                result["max_s"] = max(latencies)
            result["samples"] = len(latencies)
            result["server_change_to_ack_mean_s"] = (
                (hist_after[0] - hist_before[0]) / observed if observed else None
            )
        finally:
            for envoy in envoys:
                envoy.cleanup()
    return result


def command_for(count: int, delta: bool) -> str:
    return f".venv/bin/python -m bench.envoys --envoys {count}" + (" --delta" if delta else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envoys", type=int, default=10)
    parser.add_argument("--delta", action="store_true")
    parser.add_argument("--pushes", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    args = parser.parse_args()
    print(json.dumps(run(args.envoys, args.workdir, delta=args.delta, pushes=args.pushes)))


if __name__ == "__main__":
    main()
