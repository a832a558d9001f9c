"""Run the benchmarks: ``python -m bench.run`` (all, rewrites BENCHMARKS.md) or ``--quick``.

``--quick`` takes well under a minute (1 000 services translated, 1 000
streams, one push) and prints one JSON object as its last line. The full
run takes about ten minutes on two cores and writes every figure,
the machine it ran on and the command reproducing each figure to
``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bench import (
    auth,
    edit,
    envoys,
    fanout,
    fleet,
    kubernetes,
    proc,
    registration,
    sovereign,
    translate,
)
from bench.peers import compare
from bench.report import ok, render
from bench.scenario import (
    COLD_SIZES,
    DELTA_SIZES,
    EDIT_SIZES,
    ENVOYS,
    FANOUT_SIZES,
    FLEET_PROXIES,
    KUBERNETES_ENDPOINTS,
    KUBERNETES_SERVICES,
    REGISTERED_INSTANCES,
    SOVEREIGN_SIZES,
    TRANSLATE_SIZES,
)

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = ROOT / "build" / "bench"
T = TypeVar("T")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def attempt(what: str, fn: Callable[[], T]) -> T | dict[str, Any]:
    """Run one benchmark; a failure is recorded and the others still run."""
    log(what)
    started = time.monotonic()
    try:
        result = fn()
    except Exception as exc:
        log(f"{what} failed: {exc!r}")
        return {"failed": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
    log(f"{what}: done in {time.monotonic() - started:.0f}s")
    return result


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


# -- quick -----------------------------------------------------------------------


def quick() -> dict[str, Any]:
    started = time.monotonic()
    tr = translate.run_isolated(1000, WORKDIR, repeats=2)
    fo = fanout.run_size(1000, WORKDIR, pushes=1, idle_seconds=2.0, connect_timeout=30.0)
    return {
        "translate_services": tr["services"],
        "translate_s": round(tr["total_s"], 4),
        "translate_floor_ratio": round(tr["ratio"], 1),
        "fanout_streams": fo["streams"],
        "fanout_synced": fo["connect"]["synced"],
        "fanout_p50_s": round(fo.get("p50_s", float("nan")), 4),
        "fanout_p99_s": round(fo.get("p99_s", float("nan")), 4),
        "fanout_cpu_per_push_s": round(fo["cpu_per_push_s"], 3),
        "idle_kib_per_stream": round(fo["idle_kib_per_stream"] or float("nan"), 1),
        "elapsed_s": round(time.monotonic() - started, 1),
    }


# -- full ------------------------------------------------------------------------


def full() -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": proc.machine(),
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_average(),
    }
    results["translate"] = [
        attempt(f"translate {n} services", partial(translate.run_isolated, n, WORKDIR, 3))
        for n in TRANSLATE_SIZES
    ]
    results["edit"] = [
        attempt(f"edit {n} services", partial(edit.run_isolated, n, WORKDIR)) for n in EDIT_SIZES
    ]
    results["kubernetes"] = attempt(
        f"Kubernetes: {KUBERNETES_SERVICES} Services, {KUBERNETES_SERVICES * KUBERNETES_ENDPOINTS} endpoints",
        partial(kubernetes.run, KUBERNETES_SERVICES, KUBERNETES_ENDPOINTS, WORKDIR),
    )
    results["fanout"] = [
        attempt(
            f"fan-out {n} SotW streams",
            partial(
                fanout.run_size,
                n,
                WORKDIR,
                pushes=3,
                connect_timeout=150.0,
                profile=n == max(FANOUT_SIZES),
            ),
        )
        for n in FANOUT_SIZES
    ]
    results["cold"] = [
        attempt(
            f"cold connect {n} SotW streams",
            partial(fanout.cold_connect, n, WORKDIR, timeout=90.0),
        )
        for n in COLD_SIZES
    ]
    results["fanout_delta"] = [
        attempt(
            f"fan-out {n} Delta streams",
            partial(fanout.run_size, n, WORKDIR, mode="delta", pushes=3),
        )
        for n in DELTA_SIZES
    ]
    results["envoys"] = [
        attempt(f"{ENVOYS} real Envoys (SotW)", partial(envoys.run, ENVOYS, WORKDIR)),
        attempt(f"{ENVOYS} real Envoys (Delta)", partial(envoys.run, ENVOYS, WORKDIR, delta=True)),
    ]
    results["fleet"] = [
        attempt(f"fleet reports from {n} proxies", partial(fleet.run, n, WORKDIR))
        for n in FLEET_PROXIES
    ]
    results["registration"] = [
        attempt(f"registration, {n} instances", partial(registration.run, n, WORKDIR))
        for n in REGISTERED_INSTANCES
    ]
    costs = attempt("proxy credentials, 1000 proxies", partial(auth.run, 1000, WORKDIR))
    results["auth"] = costs if isinstance(costs, list) else []
    peers = attempt(
        "Breakwater, go-control-plane, java-control-plane", partial(compare.run, WORKDIR)
    )
    results["peers"] = peers if isinstance(peers, list) else []
    version = attempt("install sovereign", sovereign.install)
    results["sovereign_version"] = version
    if isinstance(version, str):
        results["sovereign"] = [
            attempt(f"sovereign {n} REST clients", partial(sovereign.run_size, n, WORKDIR))
            for n in SOVEREIGN_SIZES
        ]
    else:
        results["sovereign"] = []
    results["load_after"] = load_average()
    results["elapsed_s"] = time.monotonic() - started
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--render", action="store_true", help="rewrite the report from the last results.json"
    )
    args = parser.parse_args()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    if args.render:
        args.output.write_text(render(json.loads((WORKDIR / "results.json").read_text())))
        return
    if args.quick:
        print(json.dumps(quick()), flush=True)
        return
    results = full()
    (WORKDIR / "results.json").write_text(json.dumps(results, indent=2, default=str))
    args.output.write_text(render(results))
    log(f"wrote {args.output} and {WORKDIR / 'results.json'}")
    summary = {
        "translate": [
            {k: r.get(k) for k in ("services", "total_s", "ratio")}
            for r in results["translate"]
            if ok(r)
        ],
        "fanout": [
            {k: r.get(k) for k in ("streams", "mode", "p99_s", "max_s", "idle_kib_per_stream")}
            for r in [*results["fanout"], *results["fanout_delta"]]
            if ok(r)
        ],
        "elapsed_s": round(results["elapsed_s"], 1),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
