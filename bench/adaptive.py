"""Adaptive concurrency against the guide's fixed bulkhead, on an upstream that saturates.

The upstream serves `CAPACITY` requests at once at full speed (`LATENCY`
each); past that its latency grows with its concurrency (a request that
arrives with N in flight takes LATENCY * N / CAPACITY). An open-loop load
(a steady rate that does not wait for answers) is offered through one real
Envoy, for a warm-up and a measured spell, under four bulkheads: none, the
guide's pool of 5 (Envoy refuses the rest at once), the pool of 5 with the
guide's queue of 100 (5 upstream connections, requests waiting for one),
and `bulkhead.adaptive`. Figures: served 200s per second, the share shed,
p50 and p99 of the 200s. They depend on the machine (stated with them).

Run: ``python -m bench.adaptive`` (about two minutes).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_port
from breakwater.devtools.traffic.saturation import Outcome, offer
from breakwater.devtools.upstream import UpstreamServer

LATENCY = 0.1
CAPACITY = 10
RATES = (80.0, 150.0, 300.0)
WARMUP = 3.0
DURATION = 5.0

BULKHEADS = {
    "none": "",
    "pool 5 (maxConcurrentRequests: 5)": "  bulkhead: {maxConcurrentRequests: 5}\n",
    "pool 5, queue 100 (maxConnections: 5, maxQueuedRequests: 100)": (
        "  bulkhead: {maxConnections: 5, maxQueuedRequests: 100}\n"
    ),
    "adaptive (minLimit 5, sampleWindow 200ms)": (
        "  bulkhead:\n    adaptive: {minLimit: 5, maxLimit: 200, sampleWindow: 200ms, "
        "minRttRequests: 20}\n"
    ),
}

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  address: {address}
  port: {port}
  nodeSelector: {{cluster: edge}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  endpoints: [{{address: {address}, port: {upstream}}}]
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge]
  rules: [{{backends: [{{service: payments}}]}}]
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {{name: payments-bulkhead}}
spec:
  targetRef: {{name: payments}}
  timeout: {{request: 10s}}
{bulkhead}"""


def run_bulkhead(bulkhead: str, rates: tuple[float, ...], workdir: Path) -> list[Outcome]:
    """A fresh control plane, Envoy and upstream for one bulkhead; one outcome per rate."""
    policy_dir = workdir / "policies"
    state_dir = workdir / "state"
    policy_dir.mkdir()
    state_dir.mkdir()
    port = free_port()
    with UpstreamServer(service="payments", latency=LATENCY, capacity=CAPACITY) as upstream:
        (policy_dir / "policies.yaml").write_text(
            POLICIES.format(address=LOOPBACK, port=port, upstream=upstream.port, bulkhead=bulkhead)
        )
        plane = ControlPlaneThread(policy_dir, state_dir).start()
        bootstrap = render_bootstrap(
            "bench-adaptive", "edge", [(LOOPBACK, plane.xds_port)], free_port(), fleet_reports=False
        )
        try:
            with EnvoyProcess(bootstrap, log_level="warning", workdir=workdir / "envoy") as envoy:
                envoy.wait_for(lambda: "edge" in envoy.dynamic_names("routes"), 10.0, "routes")
                url = f"http://{LOOPBACK}:{port}"
                offer(url, 10.0, warmup=0.0, duration=1.0)  # connections and min RTT warmed
                return [offer(url, rate, warmup=WARMUP, duration=DURATION) for rate in rates]
        finally:
            plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    args = parser.parse_args()
    rates = tuple(args.rates)
    print(
        f"upstream: {CAPACITY} at once at {LATENCY * 1000:.0f} ms, then latency grows with "
        f"concurrency (capacity about {CAPACITY / LATENCY:.0f}/s); {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}; warm-up {WARMUP:g} s, measured {DURATION:g} s\n"
    )
    print("| bulkhead | offered/s | served/s | shed | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for name, bulkhead in BULKHEADS.items():
        with tempfile.TemporaryDirectory(prefix="bench-adaptive-") as scratch:
            for outcome in run_bulkhead(bulkhead, rates, Path(scratch)):
                print(
                    f"| {name} | {outcome.offered:.0f} | {outcome.served:.0f} | "
                    f"{outcome.shed:.0%} | {outcome.p50 * 1000:.0f} | {outcome.p99 * 1000:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
