"""`make demo`: the control plane, a real Envoy and demo upstreams, with the traffic split shown live.

Runs the examples in deploy/examples as they are: the payments service's
stable and canary instances (and its fallback) on their loopback ports, the
edge gateway on 127.0.0.1:10000. Every round sends requests through Envoy,
each from a different user (the route is sticky on `x-user-id`), and draws
the split. A few rounds in, the demo shifts the weights itself through the
API, exactly as `breakwater weights set` would, so the split visibly moves;
run the same command from another terminal to steer it yourself.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from breakwater.client import ApiError, call, weights_path
from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.defaults import ADMIN_PORT, ADMIN_URL, ENVOY_ADMIN_PORT, HOST, XDS_PORT
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.traffic import send_requests
from breakwater.devtools.upstream import UpstreamServer

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
UPSTREAMS = (("stable", 18081), ("canary", 18082))
FALLBACK_PORT = 18083
GATEWAY_URL = "http://127.0.0.1:10000"
BAR_WIDTH = 40

# (round at which to apply, weights) — a canary walking forward, then back.
SCRIPT: tuple[tuple[int, dict[str, int] | None], ...] = (
    (4, {"stable": 50, "canary": 50}),
    (8, {"stable": 0, "canary": 100}),
    (12, None),  # reset: back to the YAML's 90/10
)


class _Stop(Exception):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _bar(share: float) -> str:
    filled = round(share * BAR_WIDTH)
    return "█" * filled + "·" * (BAR_WIDTH - filled)


def _round(number: int, requests: int) -> None:
    result = send_requests(
        GATEWAY_URL,
        requests,
        concurrency=4,  # the seed-guide bulkhead admits 5 at once; more would see 503s
        headers=lambda i: {"x-user-id": f"user-{number}-{i}"},
        timeout=3.0,
        max_duration=10.0,
    )
    answered = sum(result.by_subset.values()) or 1
    line = [f"round {number:3d}"]
    for subset, _ in UPSTREAMS:
        share = result.by_subset.get(subset, 0) / answered
        line.append(f"{subset:>6} {_bar(share)} {100 * share:5.1f}%")
    failures = result.total - result.ok
    line.append(
        f"({result.ok}/{result.total} ok{', ' + str(failures) + ' failed' if failures else ''})"
    )
    print("  ".join(line), flush=True)


def _shift(server: str, weights: dict[str, int] | None) -> None:
    if weights is None:
        print("\n$ breakwater weights reset payments", flush=True)
        call(server, "DELETE", weights_path("payments", None))
    else:
        pairs = " ".join(f"{k}={v}" for k, v in weights.items())
        print(f"\n$ breakwater weights set payments {pairs}", flush=True)
        call(server, "PUT", weights_path("payments", None), {"weights": weights})
    print(flush=True)


def run(rounds: int | None, requests: int, interval: float, state_dir: Path) -> int:
    server = ADMIN_URL
    upstreams = [
        UpstreamServer(service="payments", subset=subset, instance=f"payments-{subset}", port=port)
        for subset, port in UPSTREAMS
    ]
    upstreams.append(
        UpstreamServer(
            service="payments-fallback", subset="fallback", instance="fallback", port=FALLBACK_PORT
        )
    )
    plane = ControlPlaneThread(EXAMPLES, state_dir, xds_port=XDS_PORT, admin_port=ADMIN_PORT)
    envoy = EnvoyProcess(
        render_bootstrap("demo-edge-1", "edge", [(HOST, XDS_PORT)], ENVOY_ADMIN_PORT),
        log_level="warning",
    )
    try:
        for upstream in upstreams:
            upstream.start()
        plane.start()
        call(server, "DELETE", weights_path("payments", None))  # start from the YAML's weights
        envoy.start()
        envoy.wait_for(lambda: "payments|canary" in envoy.dynamic_names("clusters"), 10, "clusters")
        print(
            f"Breakwater is serving {EXAMPLES}\n"
            f"  xDS and gRPC API  {HOST}:{XDS_PORT}\n"
            f"  admin API         {server}   (try: breakwater status --server {server})\n"
            f"  Envoy             {GATEWAY_URL}  (admin http://127.0.0.1:{ENVOY_ADMIN_PORT})\n"
            f"  upstreams         stable :18081, canary :18082, fallback :{FALLBACK_PORT}\n\n"
            "Route `payments` splits 90/10 between the stable and canary subsets.\n"
            "Steer it from another terminal:\n"
            f"  .venv/bin/breakwater weights set payments stable=75 canary=25 --server {server}\n"
            f"  .venv/bin/breakwater weights reset payments --server {server}\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        script = dict(SCRIPT)
        for number in itertools.count(1) if rounds is None else range(1, rounds + 1):
            if number in script:
                _shift(server, script[number])
            _round(number, requests)
            time.sleep(interval)
        return 0
    except _Stop:
        print("\nstopping...", flush=True)
        return 0
    except ApiError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        envoy.stop()
        envoy.cleanup()
        plane.stop()
        for upstream in upstreams:
            upstream.stop()
        print("demo stopped: Envoy, the control plane and the upstreams are down.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rounds", type=int, help="stop after this many rounds (default: run until Ctrl-C)"
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per round")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--state", help="state directory (default: a fresh temporary one)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if args.state:
        return run(args.rounds, args.requests, args.interval, Path(args.state))
    with tempfile.TemporaryDirectory(prefix="breakwater-demo-") as state:
        return run(args.rounds, args.requests, args.interval, Path(state))


if __name__ == "__main__":
    sys.exit(main())
