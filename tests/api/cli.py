"""The `breakwater` command of this virtualenv, run as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BREAKWATER = Path(sys.executable).with_name("breakwater")


def run_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.fspath(BREAKWATER), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
