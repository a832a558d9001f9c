"""The resident memory of a process, from /proc (Linux).

The tests (leaks, bounded state) and the benchmarks (what a server holds) read it alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from pathlib import Path


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size in bytes; 0 for a process that has none (a zombie, a kernel thread)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def settled_rss_bytes() -> int:
    """This process's resident memory once freed memory went back to the system.

    Collects garbage, then asks glibc to return free heap pages (`malloc_trim`), so that
    memory a test released but the allocator kept for later does not read as a leak, and
    what is measured is what is still held.
    """
    gc.collect()
    with contextlib.suppress(OSError):  # not glibc: measure as it is
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()
