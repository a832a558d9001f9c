"""Registration with two replicas on one etcd: an instance registered on replica A is served by
an Envoy of replica B, renewed through B, and removed by etcd when nobody renews it."""

from __future__ import annotations

import time

from breakwater.client import http
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.etcd.fleet import Fleet, ReplicaProcess
from tests.support.policies import payments_service

INSTANCES = "/v1/services/payments/instances"


def _listed(replica: ReplicaProcess) -> list[str]:
    code, body = replica.get(INSTANCES)
    assert code == 200, body
    return [i["endpoint"] for i in body["instances"]]


def test_registered_on_a_served_by_the_envoy_of_b(fleet: Fleet) -> None:
    fleet.policies.replace(
        fleet.policies.services_file,
        payments_service(fleet.stable.port, fleet.canary.port) + "  registration: {ttl: 3s}\n",
    )
    a = fleet.replica("a").start()
    b = fleet.replica("b").start()
    fleet.envoy("edge-b", [b], "edge-b-1")
    with UpstreamServer(service="payments", subset="stable", instance="registered") as extra:
        endpoint = f"127.0.0.1:{extra.port}"
        made = http(
            "PUT", f"{a.admin_url}{INSTANCES}/{endpoint}", {"labels": {"version": "stable"}}
        )
        assert made.status == 200, made.text
        wait_until(lambda: _listed(b) == [endpoint], 10.0, "replica B to hold the instance")
        wait_until(
            lambda: fleet.split("edge-b") is not None and extra.stats().requests > 0,
            10.0,
            "the Envoy of replica B to send to the instance registered on A",
        )
        # Renewed through B (a keep-alive of the instance's lease): it outlives its TTL.
        for _ in range(4):
            time.sleep(1.0)
            renewed = http(
                "PUT", f"{b.admin_url}{INSTANCES}/{endpoint}", {"labels": {"version": "stable"}}
            )
            assert renewed.status == 200, renewed.text
            assert renewed.body["revision"] == made.body["revision"]  # nothing was rewritten
        assert _listed(a) == [endpoint]
        # A did no renewal, yet lists when B did (from the instance's lease, to the second).
        code, body = a.get(INSTANCES)
        assert code == 200, body
        listed = body["instances"][0]
        assert listed["renewed_at"] > made.body["renewed_at"] + 2.0, (listed, made.body)
        assert abs(listed["renewed_at"] - renewed.body["renewed_at"]) <= 1.5, listed
        assert abs(listed["expires_at"] - renewed.body["expires_at"]) <= 1.5, listed
        # Nobody renews it: etcd lets its lease expire, and both replicas drop it.
        stopped = time.monotonic()
        wait_until(lambda: not _listed(a) and not _listed(b), 10.0, "the instance to expire")
        gone = time.monotonic() - stopped

        def spared() -> bool:
            served = extra.stats().requests
            return fleet.split("edge-b") is not None and extra.stats().requests == served

        wait_until(spared, 10.0, "the Envoy of B to stop sending to the expired instance")
    code, events = a.get("/v1/events")
    assert code == 200, events
    expired = [e for e in events["events"] if f"{endpoint} of payments expired" in e["what"]]
    print(
        f"etcd: expired {gone:.2f}s after the last renewal (TTL 3s); history entries: {len(expired)}"
    )
    assert len(expired) == 1, events
