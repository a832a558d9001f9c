"""The resident memory of a process, from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size in bytes; 0 for a process that has none (a zombie, a kernel thread)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
