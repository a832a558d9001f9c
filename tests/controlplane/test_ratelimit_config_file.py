"""`serve --ratelimit-config`: the rate-limit service's file follows the policies' global limits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from breakwater.controlplane.ratelimit_config import RateLimitConfigFile
from tests.translators.support import case_path, policyset_from_text


def test_the_file_is_rewritten_only_when_the_global_limits_change(tmp_path: Path) -> None:
    text = case_path("global_limits").read_text()
    target = tmp_path / "breakwater.yaml"
    writer = RateLimitConfigFile(target)

    writer.on_policies(policyset_from_text(text), 1.0)
    first = yaml.safe_load(target.read_text())
    writer.on_policies(policyset_from_text(text.replace("port: 10000", "port: 10001")), 2.0)
    writer.on_policies(policyset_from_text(text.replace("requests: 1000", "requests: 500")), 3.0)

    assert [d["value"] for d in first["descriptors"]] == [
        "Gateway/edge",
        "HTTPRoute/orders",
        "HTTPRoute/orders/0",
    ]
    assert writer.writes == 2
    assert yaml.safe_load(target.read_text())["descriptors"][0]["rate_limit"] == {
        "unit": "minute",
        "requests_per_unit": 500,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["breakwater.yaml"]


def test_a_failed_write_is_logged_and_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = RateLimitConfigFile(tmp_path / "missing" / "breakwater.yaml")
    policyset = policyset_from_text(case_path("global_limits").read_text())

    writer.on_policies(policyset, 1.0)
    assert "could not write the rate-limit service's configuration" in caplog.text
    (tmp_path / "missing").mkdir()
    writer.on_policies(policyset, 2.0)

    assert writer.writes == 1
    assert (tmp_path / "missing" / "breakwater.yaml").exists()
