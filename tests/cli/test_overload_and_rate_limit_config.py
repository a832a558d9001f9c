"""`breakwater bootstrap --max-heap --max-connections` (the overload manager, which Envoy
validates) and `breakwater ratelimit-config` (the rate-limit service's configuration)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from breakwater.cli import main
from breakwater.devtools.envoy import find_envoy
from tests.translators.support import case_path


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """The command in this process (no interpreter start-up), its exit code and output."""

    def run(*args: str) -> Ran:
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


BOOTSTRAP = ("bootstrap", "--node-id", "edge-1", "--node-cluster", "edge", "--format", "json")


def test_the_overload_manager_caps_connections_and_watches_the_heap(
    tmp_path: Path, run_cli: Callable[..., Ran]
) -> None:
    result = run_cli(*BOOTSTRAP, "--max-heap", "512Mi", "--max-connections", "10000")
    assert result.returncode == 0, result.stderr
    overload = json.loads(result.stdout)["overload_manager"]
    monitors = {m["name"]: m["typed_config"] for m in overload["resource_monitors"]}
    connections = monitors["envoy.resource_monitors.global_downstream_max_connections"]
    assert connections["max_active_downstream_connections"] == 10000
    assert monitors["envoy.resource_monitors.fixed_heap"]["max_heap_size_bytes"] == 512 * 1024**2
    actions = {a["name"]: a["triggers"][0]["threshold"]["value"] for a in overload["actions"]}
    assert actions["envoy.overload_actions.stop_accepting_requests"] == 0.98
    path = tmp_path / "bootstrap.json"
    path.write_text(result.stdout)
    checked = subprocess.run(
        [find_envoy(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--max-heap", "lots", "give bytes or a number with a unit"),
        ("--max-heap", "1Mi", "too small"),
        ("--max-connections", "0", "1 or more"),
    ],
)
def test_bad_caps_are_clear_errors(
    flag: str, value: str, words: str, run_cli: Callable[..., Ran]
) -> None:
    result = run_cli(*BOOTSTRAP, flag, value)
    assert result.returncode == 2
    assert flag in result.stderr
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_without_caps_there_is_no_overload_manager(run_cli: Callable[..., Ran]) -> None:
    result = run_cli(*BOOTSTRAP)
    assert "overload_manager" not in json.loads(result.stdout)


def test_ratelimit_config_has_one_descriptor_per_global_limit(
    tmp_path: Path, run_cli: Callable[..., Ran]
) -> None:
    (tmp_path / "policies.yaml").write_text(case_path("global_limits").read_text())
    result = run_cli("ratelimit-config", str(tmp_path))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["domain"] == "breakwater"
    assert config["descriptors"] == [
        {
            "key": "breakwater_limit",
            "value": "Gateway/edge",
            "rate_limit": {"unit": "minute", "requests_per_unit": 1000},
        },
        {
            "key": "breakwater_limit",
            "value": "HTTPRoute/orders",
            "descriptors": [
                {"key": "header", "rate_limit": {"unit": "second", "requests_per_unit": 10}}
            ],
        },
        {
            "key": "breakwater_limit",
            "value": "HTTPRoute/orders/0",
            "descriptors": [
                {"key": "remote_address", "rate_limit": {"unit": "hour", "requests_per_unit": 100}}
            ],
        },
    ]


def test_ratelimit_config_of_invalid_policies_prints_the_errors(
    tmp_path: Path, run_cli: Callable[..., Ran]
) -> None:
    (tmp_path / "policies.yaml").write_text("apiVersion: breakwater.dev/v1alpha1\nkind: Nope\n")
    result = run_cli("ratelimit-config", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Fix them and run again" in result.stderr
