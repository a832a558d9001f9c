"""Sampling profiles of the server process with py-spy (installed into its own venv on demand)."""

from __future__ import annotations

import collections
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "build" / "tools-venv"


def py_spy() -> str | None:
    """Path of py-spy: on PATH, or installed from PyPI into build/tools-venv; None if impossible."""
    found = shutil.which("py-spy")
    if found:
        return found
    binary = TOOLS / "bin" / "py-spy"
    if binary.exists():
        return str(binary)
    try:
        if not (TOOLS / "bin" / "python").exists():
            subprocess.run(["python3.11", "-m", "venv", str(TOOLS)], check=True, timeout=120)
        subprocess.run(
            [str(TOOLS / "bin" / "python"), "-m", "pip", "install", "--quiet", "py-spy"],
            check=True,
            timeout=300,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return str(binary) if binary.exists() else None


class Recording:
    """``py-spy record`` of one process for a bounded time, in collapsed-stack form."""

    def __init__(self, pid: int, seconds: float, out: Path, rate: int = 100) -> None:
        self.out = out
        self.process: subprocess.Popen[bytes] | None = None
        binary = py_spy()
        if binary is None:
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self, timeout: float = 60.0) -> list[tuple[float, str]]:
        """Wait for the recording; returns (share of samples, frame) inclusive, largest first."""
        if self.process is None:
            return []
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(10)
        return summarize(self.out) if self.out.exists() else []


def _frame(text: str) -> str:
    """``function (path:line)`` → ``function (file.py)``."""
    name, _, where = text.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({Path(path).name})" if path else name


def summarize(raw: Path, top: int = 14) -> list[tuple[float, str]]:
    """Inclusive sample shares of the busiest frames below the event loop."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    boring = ("<module>", "main (__init__.py)", "cmd_serve", "run (runners.py)", "Runner.run")
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        seen: set[str] = set()
        for text in stack.split(";"):
            frame = _frame(text)
            if frame not in seen and not frame.startswith(boring) and "base_events.py" not in frame:
                seen.add(frame)
                inclusive[frame] += samples
    if not total:
        return []
    return [(count / total, frame) for frame, count in inclusive.most_common(top)]
