"""Memory benchmark: what each part of a server's state costs at N services.

The policy directory is `bench/policies.py`'s shape (one gateway, N services,
each with a breaker, bulkhead, retry, health check and a 90/10 route). One
process does what `breakwater serve` does before its first proxy holds a
config, one part after the other, the way the server does it: the policy
texts read, every document decoded and held compactly (`PolicyReader(compact=True)`),
the checks across documents with the merged policies, then the first
translation of the gateway set and its `Snapshot`. After each part:

* `heap_mib`: what the Python heap grew by (tracemalloc, in a process of its
  own: tracing slows everything down and costs memory of its own);
* `rss_mib`: the process's resident memory (in a process without tracing),
  and `trimmed_rss_mib` once glibc was asked to give free pages back
  (`malloc_trim(0)`): the difference is what an allocator kept, not what the
  server holds.

`models` counts the pydantic models held once everything is built (each one
an object, its `__dict__` and the set of its given fields).

`python -m bench.memory --services N` prints one JSON line.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import proc
from bench.policies import NODE_CLUSTER, write_policies
from breakwater.devtools.memory import rss_bytes

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("imports", "texts", "documents", "checks", "translation")
"""In the order they are made; `imports` is the interpreter and the server's modules."""


def _mib(size: float) -> float:
    return size / 2**20


def _trimmed_rss() -> int:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()


def _stages(directory: Path, after: Callable[[str], None]) -> int:
    """Build the server's state part by part, calling `after(part)` once each is held;
    returns the number of pydantic models held at the end."""
    import breakwater.controlplane.app  # noqa: F401  (the server's modules, loaded as it loads them)
    from breakwater.controlplane.state.sources import read_policy_files
    from breakwater.controlplane.xds.resources import Snapshot
    from breakwater.translators.model_parts import Model
    from breakwater.translators.pipeline import PolicyReader
    from breakwater.translators.snapshot import Translator, node_group

    after("imports")
    files = read_policy_files(directory)
    after("texts")
    enabled = gc.isenabled()
    gc.disable()  # as the server reads and translates: no cyclic garbage is made
    reader = PolicyReader(compact=True)
    decoded = reader.decode(files.texts, files.errors)
    after("documents")
    policyset = reader.check(decoded).policyset
    if policyset is None:
        raise RuntimeError("the benchmark's policies did not pass the checks")
    after("checks")
    translator = Translator()
    translator.next_generation()
    gateways = node_group(policyset, NODE_CLUSTER, {})
    snapshot = Snapshot(translator.translate(policyset, gateways), None)
    after("translation")
    if enabled:
        gc.enable()
    held = (reader, policyset, translator, snapshot)
    models = sum(isinstance(o, Model) for o in gc.get_objects())
    del held
    return models


def measure_heap(directory: Path) -> dict[str, Any]:
    """What the Python heap grew by with each part (tracemalloc)."""
    tracemalloc.start()
    sizes: dict[str, float] = {}
    last = 0

    def after(part: str) -> None:
        nonlocal last
        gc.collect()
        now = tracemalloc.get_traced_memory()[0]
        sizes[part] = _mib(now - last)
        last = now

    models = _stages(directory, after)
    return {"heap_mib": sizes, "heap_total_mib": _mib(last), "models": models}


def measure_rss(directory: Path) -> dict[str, Any]:
    """Resident memory after each part, and once glibc gave free pages back."""
    rss: dict[str, float] = {}
    trimmed: dict[str, float] = {}

    def after(part: str) -> None:
        gc.collect()
        rss[part] = _mib(rss_bytes())
        trimmed[part] = _mib(_trimmed_rss())

    _stages(directory, after)
    return {"rss_mib": rss, "trimmed_rss_mib": trimmed}


def measure(services: int, workdir: Path) -> dict[str, Any]:
    """Both measurements, each in a fresh interpreter."""
    directory = write_policies(workdir / f"memory-policies-{services}", services)
    result: dict[str, Any] = {"services": services}
    for mode in ("heap", "rss"):
        arguments = ["--mode", mode, "--directory", str(directory)]
        result |= proc.run_module_json("bench.memory", arguments, 600)
    return result


def render(row: dict[str, Any]) -> list[str]:
    """One table: each part's heap and the resident memory once it is held."""
    out = [
        f"{row['services']} services (`.venv/bin/python -m bench.memory --services "
        f"{row['services']}`), {row['models']} pydantic models held:",
        "",
        "| part | heap (MiB) | RSS once held (MiB) | RSS after malloc_trim (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for part in PARTS:
        out.append(
            f"| {part} | {row['heap_mib'][part]:.1f} | {row['rss_mib'][part]:.1f} | "
            f"{row['trimmed_rss_mib'][part]:.1f} |"
        )
    return [*out, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--mode", choices=("heap", "rss"), help=argparse.SUPPRESS)
    parser.add_argument("--directory", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--table", action="store_true", help="print a Markdown table instead")
    args = parser.parse_args()
    if args.mode == "heap":
        print(json.dumps(measure_heap(args.directory)))
    elif args.mode == "rss":
        print(json.dumps(measure_rss(args.directory)))
    else:
        row = measure(args.services, args.workdir)
        print("\n".join(render(row)) if args.table else json.dumps(row))


if __name__ == "__main__":
    main()
