"""deploy/prometheus loads as it is: the real promtool checks the config and the alert rules,
runs their unit tests (series that fire and series that do not), and every metric the rules
use is one a real control plane exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
INSTALL_HINT = "apt-get install -y prometheus (Debian's package ships promtool)"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is not None:
        return found
    message = f"these tests need Prometheus' promtool; install it with: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def run_promtool(*args: str) -> str:
    done = subprocess.run(
        [promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_scrape_config_and_the_rules_are_valid() -> None:
    run_promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 5 rules found" in run_promtool("check", "rules", "breakwater-alerts.yml")


def test_the_alert_rules_fire_on_the_series_they_are_for_and_only_on_those() -> None:
    assert "SUCCESS" in run_promtool("test", "rules", "breakwater-alerts.test.yml")


@pytest.fixture
def exported(tmp_path: Path) -> Iterator[str]:
    with ControlPlaneThread(DEPLOY / "examples", tmp_path / "state") as plane:
        yield http("GET", plane.admin_url + "/metrics", timeout=5.0).text


def test_every_metric_the_rules_use_is_exported(exported: str) -> None:
    rules = (PROMETHEUS / "breakwater-alerts.yml").read_text()
    used = set(re.findall(r"\b(breakwater_[a-z_]+)", rules))
    families = set(re.findall(r"^# TYPE (\S+) (\S+)", exported, re.MULTILINE))
    names = {name for name, _ in families}
    names |= {f"{name}_total" for name, kind in families if kind == "counter"}
    assert used, "the rules use no Breakwater metric"
    assert used <= names, sorted(used - names)
