"""CPU time and resident memory of processes, read from /proc (Linux only, no dependencies)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (10 ms resolution)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds_with_reaped(pid: int) -> float:
    """CPU time of the process plus that of its children it has already reaped."""
    fields = _stat_fields(pid)
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS


def process_tree_cpu(pid: int) -> float:
    """CPU time of a process and all its descendants, dead (reaped) ones included."""
    return cpu_seconds_with_reaped(pid) + tree_cpu_seconds(children(pid))


def wait_quiet(
    pid: int | Iterable[int], *, below: float = 0.1, window: float = 0.5, timeout: float = 30.0
) -> float:
    """Wait until ``pid`` (or those processes together) uses less than ``below`` cores over
    ``window``; returns seconds waited."""
    pids = [pid] if isinstance(pid, int) else list(pid)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if cpu_rate(pids, window) < below:
            break
    return time.monotonic() - started


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` alive now."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        kids = [child for child, parent in parents.items() if parent == current]
        found.extend(kids)
        frontier.extend(kids)
    return found


def tree_cpu_seconds(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue
    return total


def cpu_rate(pids: Iterable[int], seconds: float) -> float:
    """CPU seconds used per wall second by ``pids`` over the next ``seconds``."""
    chosen = list(pids)
    before = tree_cpu_seconds(chosen)
    started = time.monotonic()
    time.sleep(seconds)
    return (tree_cpu_seconds(chosen) - before) / (time.monotonic() - started)


def machine() -> dict[str, Any]:
    """Cores, memory and CPU model, as /proc tells them."""
    model = ""
    mhz = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "cpu MHz" and not mhz:
            mhz = value.strip()
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count() or 0,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "cpu_model": model,
        "cpu_mhz": mhz,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def run_module_json(module: str, arguments: list[str], timeout: float) -> dict[str, Any]:
    """Run ``python -m module arguments`` in a fresh interpreter and read the JSON object it
    prints as its last line: each size then measures on a heap of its own."""
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
