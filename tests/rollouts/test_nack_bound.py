"""A proxy's NACK stops a rollout, but what it says is stored only up to a bound.

Any xDS client can NACK, with a message as long as it likes; that message becomes the
rollout's status and history, which live in the state store (on etcd, one request
may carry at most 1.5 MiB). The real control plane serves; an ADS client plays the
proxy that rejects the step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from breakwater.client import http
from breakwater.controlplane.limits import MESSAGE_LIMIT
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.waiting import wait_until
from breakwater.xds_types import ROUTE_TYPE
from tests.support.ads import BlockingAdsClient
from tests.support.policies import GATEWAY, NODE_CLUSTER, PolicyDir
from tests.support.rollouts import ROUTE_AT_STABLE, rollout_yaml

REJECTION = "envoy says no: " + "x" * (1024 * 1024)


def test_a_huge_nack_pauses_the_rollout_with_a_bounded_message(tmp_path: Path) -> None:
    policies = PolicyDir.create(tmp_path / "policies", routes=[ROUTE_AT_STABLE])
    policies.replace(
        policies.path / "rollouts.yaml",
        rollout_yaml(steps="[{setWeight: 10}, {setWeight: 100}]"),
    )
    with (
        ControlPlaneThread(policies.path, tmp_path / "state") as plane,
        BlockingAdsClient(plane.xds_port, "edge-1", NODE_CLUSTER) as proxy,
    ):

        def rollout() -> dict[str, Any]:
            reply = http("GET", f"{plane.admin_url}/v1/rollouts/payments")
            assert reply.status == 200, reply.text
            body: dict[str, Any] = reply.body
            return body

        wait_until(lambda: rollout()["canary_weight"] == 10, 10.0, "step 0 asking for 10 %")
        proxy.request(ROUTE_TYPE, [GATEWAY])
        proxy.nack(proxy.recv(), REJECTION, [GATEWAY])
        paused = wait_until(
            lambda: (r := rollout())["phase"] == "Paused" and r, 10.0, "the rollout stopped"
        )
        # The proxy's own status keeps no more of it than the rollout does.
        status = http("GET", f"{plane.admin_url}/v1/status").body
        (route,) = [t for p in status["proxies"] for t in p["types"] if t["type"] == "rds"]
        assert len(route["nack_message"]) <= MESSAGE_LIMIT, len(route["nack_message"])
    message = paused["message"]
    assert message.startswith("stopped: a proxy rejected step 0: edge-1: envoy says no: xxx")
    assert len(message) <= MESSAGE_LIMIT and message.endswith("…"), len(message)
    assert all(len(e["message"]) <= MESSAGE_LIMIT for e in paused["history"])
    stored = (tmp_path / "state" / "breakwater.sqlite3").stat().st_size
    assert stored < 512 * 1024, stored
