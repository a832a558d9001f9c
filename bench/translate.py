"""Translation benchmark: a policy set of N services → a complete, encoded snapshot.

Measured: the one build path with nothing to reuse (``snapshot.build``, as
``render`` runs it: ``resolve``, PolicySet → IR, then ``Builder.build``, IR →
encoded resources with their content hashes, ``Any`` and response entries)
plus ``Snapshot`` (versions per type), against
the floor of serializing the same messages once with ``SerializeToString()``. Each run keeps the previous snapshot alive, as the
server does while it builds the next one, so the heap is a realistic one, and
translates a fresh PolicySet (no caches from the previous run), as the server
does after every change. The cyclic garbage collector is paused around each
build, as the server pauses it (``--collector on`` leaves it on, to show what
that saves). Time spent in the collector and in policy merging is reported
separately, to show where the time goes.

Each size runs in a fresh process: ``python -m bench.translate --services N``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bench import proc
from bench.policies import NODE_CLUSTER, write_policies

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


class GcClock:
    """Wall time spent inside the garbage collector while installed."""

    def __init__(self) -> None:
        self.total = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started
            self.collections += 1

    @contextmanager
    def installed(self) -> Iterator[GcClock]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


class Stopwatch:
    """Accumulates the time spent in wrapped functions (outermost calls only)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._depth = 0

    def wrap(self, fn: Callable[..., T]) -> Callable[..., T]:
        def timed(*args: Any, **kwargs: Any) -> T:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - started
                self._depth -= 1

        return timed


@contextmanager
def _collector(paused: bool) -> Iterator[None]:
    """The cyclic collector paused around the build, as the server pauses it
    (`reconciler._translated`), or left on."""
    enabled = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def measure(services: int, workdir: Path, repeats: int, paused: bool = True) -> dict[str, Any]:
    from breakwater.controlplane.state.sources import load_policy_files
    from breakwater.controlplane.xds.resources import Snapshot
    from breakwater.translators import policyset as policyset_module
    from breakwater.translators.snapshot import build, decoded, node_group

    directory = write_policies(workdir / f"policies-{services}", services)
    started = time.perf_counter()
    _, loaded = load_policy_files(directory)
    load_s = time.perf_counter() - started
    policyset = loaded.policyset
    if policyset is None:
        raise RuntimeError(f"generated policies do not load: {loaded.errors[:3]}")
    group = node_group(policyset, NODE_CLUSTER, {})

    merging = Stopwatch()
    policyset_module.merge_layers = merging.wrap(policyset_module.merge_layers)

    runs: list[dict[str, float]] = []
    kept: list[Any] = []  # the snapshot being served while the next is built
    for _ in range(repeats):
        merging.total = 0.0
        # A new PolicySet with the same documents and no caches, which is what the
        # server translates after every change (an API write lays overrides over
        # the YAML with `dataclasses.replace`).
        fresh = dataclasses.replace(policyset)
        with GcClock().installed() as clock, _collector(paused):
            started, cpu = time.perf_counter(), time.process_time()
            resources = build(fresh, group)
            translated = time.perf_counter()
            snapshot = Snapshot(resources)
            done, cpu_done = time.perf_counter(), time.process_time()
        runs.append(
            {
                "translate_s": translated - started,
                "snapshot_s": done - translated,
                "total_s": done - started,
                "cpu_s": cpu_done - cpu,
                "gc_s": clock.total,
                "merge_s": merging.total,
            }
        )
        kept[:] = [resources, snapshot]

    messages = [m for ms in decoded(kept[0]).values() for m in ms]
    floors: list[float] = []
    floors_cpu: list[float] = []
    for _ in range(max(3, repeats)):
        started, cpu = time.perf_counter(), time.process_time()
        encoded = sum(len(m.SerializeToString()) for m in messages)
        floors.append(time.perf_counter() - started)
        floors_cpu.append(time.process_time() - cpu)
    floor, floor_cpu = min(floors), min(floors_cpu)

    incremental = _incremental(policyset, group, kept[1])

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    total = median("total_s")
    return {
        "services": services,
        "resources": {t.rsplit(".", 1)[-1]: len(ms) for t, ms in kept[0].items()},
        "messages": len(messages),
        "encoded_bytes": encoded,
        "load_s": load_s,
        "translate_s": median("translate_s"),
        "snapshot_s": median("snapshot_s"),
        "total_s": total,
        "best_total_s": min(r["total_s"] for r in runs),
        "gc_s": median("gc_s"),
        "merge_s": median("merge_s"),
        "floor_s": floor,
        "ratio": total / floor if floor else float("inf"),
        # CPU seconds of the process: steadier than wall time on a shared machine.
        "cpu_s": median("cpu_s"),
        "floor_cpu_s": floor_cpu,
        "cpu_ratio": median("cpu_s") / floor_cpu if floor_cpu else float("inf"),
        "repeats": repeats,
        "collector": "paused" if paused else "on",
        "runs": runs,
        **incremental,
    }


class _Weights:
    def __init__(self, route: str, weights: dict[str, int]) -> None:
        self.route, self.rule, self.weights = route, 0, weights


def _incremental(policyset: Any, group: frozenset[str], full: Any) -> dict[str, float]:
    """What the server's builder costs: a first build (start), and a rebuild after one
    route's weights changed (an API write), the first checked byte-identical to a build
    with an empty cache."""
    from bench.policies import service_name
    from breakwater.controlplane.reconciler import _translated
    from breakwater.translators.overrides import apply_overrides
    from breakwater.translators.snapshot import Translator

    builder = Translator()
    fresh = dataclasses.replace(policyset)
    started = time.perf_counter()
    first = _translated(builder, fresh, group)
    cold = time.perf_counter() - started
    if first.version != full.version:
        raise RuntimeError("the server's builder disagrees with a build from scratch")
    shifted, _ = apply_overrides(fresh, [_Weights(service_name(0), {"stable": 50, "canary": 50})])
    builder.next_generation()
    started = time.perf_counter()
    _translated(builder, shifted, group)
    return {"builder_cold_s": cold, "builder_one_route_s": time.perf_counter() - started}


def run_isolated(
    services: int, workdir: Path, repeats: int, timeout: float = 600
) -> dict[str, Any]:
    """``measure`` in a fresh interpreter, so sizes do not share a heap."""
    arguments = ["--services", str(services), "--repeats", str(repeats), "--workdir", str(workdir)]
    return proc.run_module_json("bench.translate", arguments, timeout)


def command_for(services: int, repeats: int) -> str:
    return f".venv/bin/python -m bench.translate --services {services} --repeats {repeats}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument(
        "--collector",
        choices=("paused", "on"),
        default="paused",
        help="pause the cyclic garbage collector around each build, as the server does "
        "(default), or leave it on (its cost is then the gc_s column)",
    )
    args = parser.parse_args()
    paused = args.collector == "paused"
    print(json.dumps(measure(args.services, args.workdir, args.repeats, paused)))


if __name__ == "__main__":
    main()
