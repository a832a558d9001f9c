"""`breakwater bootstrap --stats-flush-interval` takes a duration with a unit, as every
duration in Breakwater does, and writes it the way Envoy reads durations."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from breakwater.devtools.envoy import find_envoy
from tests.api.cli import run_cli

BOOTSTRAP = ("bootstrap", "--node-id", "edge-1", "--node-cluster", "edge", "--format", "json")


@pytest.mark.parametrize("value", ["1", "5 seconds", "-1s", "", "10m"])
def test_a_flush_interval_without_a_unit_is_a_clear_error(value: str) -> None:
    result = run_cli(*BOOTSTRAP, f"--stats-flush-interval={value}")
    assert result.returncode == 2, result.stdout
    assert "--stats-flush-interval" in result.stderr
    assert "5s" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("value", "written"), [("1s", "1s"), ("250ms", "0.250s"), ("1m", "60s")])
def test_envoy_takes_the_flush_interval_written(tmp_path: Path, value: str, written: str) -> None:
    result = run_cli(*BOOTSTRAP, "--stats-flush-interval", value)
    assert result.returncode == 0, result.stderr
    bootstrap = json.loads(result.stdout)
    assert bootstrap["stats_flush_interval"] == written
    path = tmp_path / "bootstrap.json"
    path.write_text(result.stdout)
    checked = subprocess.run(
        [find_envoy(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
