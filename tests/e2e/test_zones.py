"""Staying in the zone, measured: two Envoys in two zones, upstream processes in both.

Each Envoy is bootstrapped with `--zone` (its locality and the local
cluster). With zone-aware routing the control plane sends the local cluster
(the node cluster's two proxies, one per zone): with equal shares of proxies
and hosts in each zone, Envoy routes every request of a proxy to its own
zone. With `failover.zones` each zone's proxies get their own zone at
priority 0. When the local zone's instances are killed, outlier detection
ejects them on their first failed connection and the retries land in the
other zone: no client sees a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_port
from breakwater.devtools.traffic import ContinuousTraffic, TrafficResult
from breakwater.devtools.waiting import wait_until
from tests.support.envoy import envoy_for
from tests.support.registration import UpstreamProcess

ZONES = {"a": "eu-1a", "b": "eu-1b"}

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  endpoints:
{endpoints}
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {{name: payments}}
spec:
  targetRef: {{name: payments}}
{zones}
  circuitBreaker: {{consecutiveErrors: 1, panicThreshold: 0}}
  retry: {{attempts: 5}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: gw-a}}
spec: {{address: 127.0.0.1, port: {port_a}, nodeSelector: {{metadata: {{side: a}}}}}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: gw-b}}
spec: {{address: 127.0.0.1, port: {port_b}, nodeSelector: {{metadata: {{side: b}}}}}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [gw-a, gw-b]
  rules:
    - backends: [{{service: payments}}]
"""


ZONE_POLICIES = {
    "zone-aware": "  loadBalancer:\n    zoneAware: {minClusterSize: 2}",
    "zone-failover": "  failover:\n    zones: []",
}
"""Two ways to stay in the zone: Envoy's zone-aware routing (against the local cluster), and
locality priorities per zone of the proxies (own zone first)."""


class ZonedMesh:
    """Two upstream processes per zone, the control plane, one Envoy per zone."""

    def __init__(self, workdir: Path, zones: str) -> None:
        self.workdir = workdir
        self.zones = zones
        self.upstreams: dict[str, UpstreamProcess] = {}
        self.envoys: dict[str, EnvoyProcess] = {}
        self.ports = {side: free_port() for side in ZONES}
        self.plane: ControlPlaneThread | None = None

    def start(self) -> None:
        for zone in ZONES.values():
            for index in (1, 2):
                name = f"{zone}-{index}"
                self.upstreams[name] = UpstreamProcess(self.workdir, name).start()
        endpoints = "\n".join(
            f"    - {{address: {LOOPBACK}, port: {u.port}, zone: {name[:-2]}}}"
            for name, u in self.upstreams.items()
        )
        policies = self.workdir / "policies"
        policies.mkdir()
        (policies / "mesh.yaml").write_text(
            POLICIES.format(
                endpoints=endpoints,
                zones=ZONE_POLICIES[self.zones],
                port_a=self.ports["a"],
                port_b=self.ports["b"],
            )
        )
        self.plane = ControlPlaneThread(policies, self.workdir / "state").start()
        for side, zone in ZONES.items():
            envoy = envoy_for(
                self.plane.xds_port,
                f"edge-{side}",
                self.workdir / f"envoy-{side}",
                cluster="edge",
                log_level="warn",
                zone=zone,
                node_metadata={"side": side},
            )
            self.envoys[side] = envoy
            envoy.start()
        for side in ZONES:
            wait_until(partial(self._ready, side), 15.0, f"the Envoy of zone {side}")

    def _ready(self, side: str) -> bool:
        """The upstream's four hosts healthy and the local cluster holding both proxies."""
        hosts = {
            status["name"]: len(status.get("host_statuses", []))
            for status in self.envoys[side].clusters().get("cluster_statuses", [])
        }
        return hosts.get("payments") == 4 and hosts.get("breakwater:local") == 2

    def traffic(self, side: str) -> ContinuousTraffic:
        return ContinuousTraffic(
            f"http://{LOOPBACK}:{self.ports[side]}", rate=50, timeout=2.0, max_duration=30.0
        )

    def zone_share(self, result: TrafficResult, zone: str) -> float:
        return sum(result.instance_fraction(name) for name in self.upstreams if name[:-2] == zone)

    def stat(self, side: str, name: str) -> int:
        return self.envoys[side].stats().get(name, 0)

    def close(self) -> None:
        for envoy in self.envoys.values():
            envoy.stop()
        if self.plane is not None:
            self.plane.stop()
        for upstream in self.upstreams.values():
            upstream.stop()


@pytest.fixture(params=sorted(ZONE_POLICIES))
def zoned(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ZonedMesh]:
    mesh = ZonedMesh(tmp_path, request.param)
    try:
        mesh.start()
        yield mesh
    finally:
        mesh.close()


def _run(mesh: ZonedMesh, requests: int) -> dict[str, TrafficResult]:
    streams = {side: mesh.traffic(side).start() for side in ZONES}
    for traffic in streams.values():
        traffic.wait_for(requests, timeout=20.0)
    return {side: traffic.stop() for side, traffic in streams.items()}


def test_each_proxy_keeps_traffic_in_its_zone_and_moves_when_the_zone_dies(
    zoned: ZonedMesh,
) -> None:
    before = _run(zoned, 100)
    shares = {side: zoned.zone_share(before[side], zone) for side, zone in ZONES.items()}
    direct = {
        side: zoned.stat(side, "cluster.payments.lb_zone_routing_all_directly") for side in ZONES
    }
    print(f"{zoned.zones}: share of each proxy's requests served in its own zone: {shares}")
    for side, result in before.items():
        assert result.errors == 0, result.summary()
        assert shares[side] >= 0.95, result.summary()
        if zoned.zones == "zone-aware":
            assert direct[side] > 0

    # The instances of eu-1a crash under traffic.
    streams = {side: zoned.traffic(side).start() for side in ZONES}
    for traffic in streams.values():
        traffic.wait_for(50, timeout=20.0)
    for name in ("eu-1a-1", "eu-1a-2"):
        zoned.upstreams[name].kill9()
    for traffic in streams.values():
        traffic.wait_for(traffic.completed + 150, timeout=20.0)
    after = {side: traffic.stop() for side, traffic in streams.items()}
    moved = zoned.stat("a", "cluster.payments.upstream_rq_retry")
    print(
        f"the zone eu-1a died: {after['a'].total} requests through its proxy, "
        f"{after['a'].errors} failed, {moved} retried; the proxy of eu-1b: "
        f"{after['b'].total} requests, {after['b'].errors} failed"
    )
    for result in after.values():
        assert result.errors == 0, result.summary()
    late = zoned.traffic("a").start()
    late.wait_for(50, timeout=20.0)
    assert zoned.zone_share(late.stop(), "eu-1b") == 1.0
