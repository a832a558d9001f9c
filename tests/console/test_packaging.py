"""Every file of the console ships in the wheel: pyproject's package data names them all."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import breakwater.console

ROOT = Path(__file__).resolve().parents[2]


def test_package_data_covers_every_console_file() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["breakwater"]
    static = Path(breakwater.console.__file__).parent / "static"
    files = [
        p.relative_to(ROOT / "breakwater").as_posix() for p in static.rglob("*") if p.is_file()
    ]
    assert files, static
    left_out = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert not left_out, f"not in the wheel: {left_out}; add them to pyproject's package-data"
