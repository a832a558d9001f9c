"""The `breakwater` command of this virtualenv, run as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BREAKWATER = Path(sys.executable).with_name("breakwater")


def run_cli(
    *args: str, timeout: float = 30.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`env`: variables set for this run, beside the test's own environment."""
    return subprocess.run(
        [os.fspath(BREAKWATER), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
