"""Replicas that serve different policy files show it: in status, in the table, in a metric."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from breakwater.cli.tables import format_status
from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.prometheus import metric, metrics_text
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.etcd.fleet import fleet_policies


def _get(plane: ControlPlaneThread, path: str) -> Any:
    reply = http("GET", plane.admin_url + path)
    code, body = reply.status, reply.body
    assert code == 200, body
    return body


def _skew(plane: ControlPlaneThread) -> float | None:
    text = metrics_text(plane.admin_url, timeout=5.0)
    return metric(text, "breakwater_replica_skew", field="policy_version")


def test_policy_version_skew_is_visible(tmp_path: Path, etcd: EtcdServer) -> None:
    old = fleet_policies(tmp_path / "old")
    # A rollout half done: one replica already reads an edited file.
    new = dataclasses.replace(old, path=tmp_path / "new")
    new.write()
    new.write_weights({"stable": 90, "canary": 10})
    with (
        ControlPlaneThread(old.path, tmp_path / "a", store_url=etcd.url("skew")) as a,
        ControlPlaneThread(new.path, tmp_path / "b", store_url=etcd.url("skew")) as b,
    ):
        wait_until(lambda: _skew(a) == 1 and _skew(b) == 1, 5.0, "policy version skew")
        status = _get(a, "/v1/status")
        versions = {r["xds_address"]: r["policy_version"] for r in status["replicas"]}
        assert len(set(versions.values())) == 2
        assert versions[f"127.0.0.1:{a.xds_port}"] == status["policy_version"]
        table = format_status(status)
        assert f"{versions[f'127.0.0.1:{b.xds_port}']} *" in table
