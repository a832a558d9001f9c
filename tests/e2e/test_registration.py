"""Instances that come and go by themselves, under steady traffic through a real Envoy.

Each instance is a process of its own with `breakwater endpoints register
--keepalive` beside it, as on a virtual machine: scaled out, scaled in with
SIGTERM (drain, deregister, 0 failed requests), and crashed with `kill -9`
(removed after its TTL; with a retry policy no client sees a failure).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh
from tests.support.registration import KeepaliveProcess, UpstreamProcess

TTL = "3s"
LATENCY = 0.02

REGISTERED = (
    """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  registration: {ttl: 3s, drainTime: 1s}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: payments}
spec:
  targetRef: {name: payments}
  retry: {attempts: 3}
"""
    + PAYMENTS_ROUTE
)


class Instances:
    """Upstream processes and their keepalives; all stopped at the end of the test."""

    def __init__(self, mesh: Mesh, workdir: Path) -> None:
        self.mesh = mesh
        self.workdir = workdir
        self.upstreams: dict[str, UpstreamProcess] = {}
        self.keepalives: dict[str, KeepaliveProcess] = {}

    def add(self, name: str) -> tuple[UpstreamProcess, KeepaliveProcess]:
        assert self.mesh.control_plane is not None
        upstream = UpstreamProcess(self.workdir, name, latency=LATENCY).start()
        self.upstreams[name] = upstream
        keepalive = KeepaliveProcess(
            self.workdir, self.mesh.control_plane.admin_url, "payments", upstream.endpoint, ttl=TTL
        )
        self.keepalives[name] = keepalive.start()
        return upstream, keepalive

    def registered(self) -> list[str]:
        answer = self.mesh.admin_api("GET", "/v1/services/payments/instances")
        return [i["endpoint"] for i in answer["instances"] if i["state"] == "serving"]

    def wait_served(self, count: int) -> None:
        self.mesh.wait_for(
            lambda: (
                self.mesh.cluster_stat("payments", "membership_total") == count
                and self.mesh.cluster_stat("payments", "membership_healthy") == count
            ),
            10.0,
            f"Envoy to serve {count} registered instances",
        )

    def close(self) -> None:
        """The test is over: no drain to wait for, the keepalives are killed."""
        for keepalive in self.keepalives.values():
            if keepalive.running:
                keepalive.kill9()
        for upstream in self.upstreams.values():
            upstream.stop()


@pytest.fixture
def instances(mesh: Mesh, tmp_path: Path) -> Iterator[Instances]:
    mesh.start(REGISTERED)
    made = Instances(mesh, tmp_path)
    try:
        made.add("payments-a")
        made.add("payments-b")
        made.wait_served(2)
        yield made
    finally:
        made.close()


def test_scale_out_a_third_instance_gets_traffic_within_a_second(
    mesh: Mesh, instances: Instances
) -> None:
    with mesh.continuous(rate=100, max_duration=30.0) as traffic:
        traffic.wait_for(100)
        third, keepalive = instances.add("payments-c")
        registered = time.monotonic()  # the keepalive has logged the server's answer
        mesh.wait_for(lambda: third.requests() > 0, 10.0, "the third instance to get traffic")
        took = time.monotonic() - registered
        traffic.wait_for(traffic.completed + 100)
        result = traffic.stop()
    print(f"scale out: the third instance served its first request {took:.3f}s after it registered")
    assert took < 1.0
    assert result.errors == 0, result.summary()
    assert keepalive.running


def test_scale_in_sigterm_drains_deregisters_and_fails_nothing(
    mesh: Mesh, instances: Instances
) -> None:
    leaving, _ = instances.add("payments-c")
    instances.wait_served(3)
    with mesh.continuous(rate=100, max_duration=30.0) as traffic:
        traffic.wait_for(100)
        status, took = instances.keepalives["payments-c"].terminate()
        assert status == 0, instances.keepalives["payments-c"].log_tail()
        assert leaving.endpoint not in instances.registered()
        served = leaving.requests()
        leaving.stop()  # the instance itself stops after its keepalive, as systemd orders it
        instances.wait_served(2)
        traffic.wait_for(traffic.completed + 100)
        result = traffic.stop()
    print(
        f"scale in: keepalive drained and deregistered in {took:.2f}s; "
        f"{result.total} requests, {result.errors} failed; the leaving instance served {served}"
    )
    assert result.errors == 0, result.summary()
    events = mesh.admin_api("GET", "/v1/events")["events"]
    whats = [e["what"] for e in events]
    assert any(f"{leaving.endpoint} of payments deregistered" in w for w in whats), whats
    assert any(f"{leaving.endpoint} of payments left after its drain" in w for w in whats), whats


def test_a_crashed_instance_leaves_after_its_ttl_and_retries_hide_it(
    mesh: Mesh, instances: Instances
) -> None:
    crashing, keepalive = instances.add("payments-c")
    instances.wait_served(3)
    with mesh.continuous(rate=100, max_duration=30.0) as traffic:
        traffic.wait_for(100)
        keepalive.kill9()
        crashing.kill9()
        crashed = time.monotonic()
        mesh.wait_for(
            lambda: crashing.endpoint not in instances.registered(),
            10.0,
            "the crashed instance to expire",
        )
        gone = time.monotonic() - crashed
        instances.wait_served(2)
        traffic.wait_for(traffic.completed + 100)
        result = traffic.stop()
    retried = mesh.cluster_stat("payments", "upstream_rq_retry")
    print(
        f"crash: removed {gone:.2f}s after kill -9 (TTL {TTL}); {result.total} requests, "
        f"{result.errors} failed, {retried} retried by Envoy"
    )
    assert gone >= 1.0  # it was not renewed, it was not removed early either
    assert result.errors == 0, result.summary()
    events = mesh.admin_api("GET", "/v1/events")["events"]
    assert any(f"{crashing.endpoint} of payments expired" in e["what"] for e in events), events


def test_a_rolling_update_by_registration_fails_no_request(
    mesh: Mesh, instances: Instances
) -> None:
    """The guide's rolling update, one instance at a time: the new one registers, the old one's
    keepalive gets SIGTERM (drain, deregister), then the old instance stops."""
    with mesh.continuous(rate=100, max_duration=60.0) as traffic:
        traffic.wait_for(100)
        for old, new in (("payments-a", "payments-a2"), ("payments-b", "payments-b2")):
            instances.add(new)
            instances.wait_served(3)
            status, _ = instances.keepalives[old].terminate()
            assert status == 0, instances.keepalives[old].log_tail()
            instances.upstreams[old].stop()
            instances.wait_served(2)
        traffic.wait_for(traffic.completed + 100)
        result = traffic.stop()
    served = {name: instances.upstreams[name].requests() for name in ("payments-a2", "payments-b2")}
    print(
        f"rolling update: {result.total} requests, {result.errors} failed; new instances: {served}"
    )
    assert result.errors == 0, result.summary()
    assert all(count > 0 for count in served.values())
    assert sorted(instances.registered()) == sorted(
        instances.upstreams[name].endpoint for name in ("payments-a2", "payments-b2")
    )
