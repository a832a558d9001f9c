"""Replicas that serve different policy files show it: in status, in the table, in a metric."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

from breakwater.client import format_status
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.etcd.fleet import http_json, parse_metrics, write_policies


def _get(plane: ControlPlaneThread, path: str) -> Any:
    code, body = http_json(plane.admin_url + path)
    assert code == 200, body
    return body


def _skew(plane: ControlPlaneThread) -> float | None:
    with urllib.request.urlopen(plane.admin_url + "/metrics", timeout=5.0) as response:
        metrics = parse_metrics(response.read().decode())
    return metrics.get('breakwater_replica_skew{field="policy_version"}')


def test_policy_version_skew_is_visible(tmp_path: Path, etcd: EtcdServer) -> None:
    old = write_policies(tmp_path / "old")
    new = tmp_path / "new"
    new.mkdir()
    # A rollout half done: one replica already reads an edited file.
    text = (old / "policies.yaml").read_text().replace("weight: 100", "weight: 90")
    (new / "policies.yaml").write_text(text.replace("weight: 0", "weight: 10"))
    with (
        ControlPlaneThread(old, tmp_path / "a", store_url=etcd.url("skew")) as a,
        ControlPlaneThread(new, tmp_path / "b", store_url=etcd.url("skew")) as b,
    ):
        wait_until(lambda: _skew(a) == 1 and _skew(b) == 1, 5.0, "policy version skew")
        status = _get(a, "/v1/status")
        versions = {r["xds_address"]: r["policy_version"] for r in status["replicas"]}
        assert len(set(versions.values())) == 2
        assert versions[f"127.0.0.1:{a.xds_port}"] == status["policy_version"]
        table = format_status(status)
        assert f"{versions[f'127.0.0.1:{b.xds_port}']} *" in table
