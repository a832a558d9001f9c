"""A replica cut off from etcd (not refused: silently dropped) while another keeps writing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aetcd  # type: ignore[import-untyped]

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.etcd.fleet import fleet_policies
from tests.etcd.gate import TcpGate
from tests.support.admin import weights_url


def _put(plane: ControlPlaneThread, stable: int, canary: int) -> tuple[int, Any]:
    reply = http(
        "PUT",
        weights_url(plane.admin_url),
        {"weights": {"stable": stable, "canary": canary}},
        timeout=10.0,
    )
    return reply.status, reply.body


def _status(plane: ControlPlaneThread) -> dict[str, Any]:
    reply = http("GET", plane.admin_url + "/v1/status")
    code, body = reply.status, reply.body
    assert code == 200, body
    result: dict[str, Any] = body
    return result


def _compact(etcd: EtcdServer) -> int:
    async def compact() -> int:
        async with aetcd.Client(host="127.0.0.1", port=etcd.client_port, timeout=5) as client:
            revision = int((await client.get_prefix(b"/")).header.revision)
            await client.compact(revision)
            return revision

    return asyncio.run(compact())


def test_partitioned_replica_refuses_writes_then_catches_up(
    tmp_path: Path, etcd: EtcdServer
) -> None:
    policies = fleet_policies(tmp_path / "policies").path
    with (
        TcpGate(etcd.client_port) as gate,
        ControlPlaneThread(
            policies, tmp_path / "a", store_url=f"etcd://127.0.0.1:{gate.port}/partition"
        ) as a,
        ControlPlaneThread(policies, tmp_path / "b", store_url=etcd.url("partition")) as b,
    ):
        code, body = _put(b, 50, 50)
        assert code == 200, body
        wait_until(lambda: _status(a)["state_revision"] == body["revision"], 3.0, "a following b")
        wait_until(lambda: len(_status(b)["replicas"]) == 2, 3.0, "both registered")

        gate.partition()
        wait_until(
            lambda: not _status(a)["store"]["available"],
            10.0,
            "a noticing it is cut off",
            interval=0.2,
        )
        started = time.monotonic()
        code, refused = _put(a, 0, 100)
        assert code == 503, refused
        assert "did not answer" in str(refused["error"])
        assert time.monotonic() - started < 6.0

        last = 0
        for canary in (10, 20, 30):
            code, body = _put(b, 100 - canary, canary)
            assert code == 200, body
            last = int(body["revision"])
        # a keeps serving what it had; b serves the new state.
        assert _status(a)["state_revision"] < last
        # a's history is gone from etcd: it must read the whole state when it is back.
        assert _compact(etcd) >= last
        # Its lease ran out meanwhile: b lists only itself.
        wait_until(lambda: len(_status(b)["replicas"]) == 1, 10.0, "a dropping out", interval=0.2)

        gate.heal()
        wait_until(lambda: _status(a)["state_revision"] == last, 8.0, "a catching up")
        assert _status(a)["store"]["available"] is True
        reply = http("GET", weights_url(a.admin_url))
        code, weights = reply.status, reply.body
        assert weights["weights"] == {"stable": 70, "canary": 30}
        wait_until(lambda: len(_status(b)["replicas"]) == 2, 5.0, "a registered again")
        code, body = _put(a, 0, 100)
        assert code == 200, body
        wait_until(lambda: _status(b)["state_revision"] == body["revision"], 3.0, "b following a")
