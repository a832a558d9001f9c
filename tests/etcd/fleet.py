"""Several Breakwater replicas on one etcd, real upstreams and real Envoys, all on loopback.

The policies declare one Service (`payments`, subsets `stable` and
`canary`), two Gateways (`edge-a`, `edge-b`, each on its own port and
selecting its own node cluster, so two Envoys can run side by side) and one
HTTPRoute splitting `payments` between the subsets, 100/0 in the YAML.
Replicas run as `breakwater serve` subprocesses, so a test can `kill -9`
one. Every process started here is stopped by `Fleet.close`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from breakwater.client import http
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.prometheus import metrics_text
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.traffic import ContinuousTraffic, send_requests
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.support.admin import weights_url
from tests.support.envoy import envoy_for
from tests.support.policies import ROUTE, PolicyDir, SplitRoute

GATEWAYS = ("edge-a", "edge-b")
FLEET_ROUTE = SplitRoute(gateways=GATEWAYS, weights={"stable": 100, "canary": 0})


def fleet_policies(
    directory: Path,
    stable_port: int | None = None,
    canary_port: int | None = None,
    gateways: tuple[str, ...] = GATEWAYS,
) -> PolicyDir:
    """The fleet's policies in a new directory; upstream ports left out are unused ones, for
    tests that send no traffic. The route is on every one of `gateways`."""
    route = (
        FLEET_ROUTE
        if gateways == GATEWAYS
        else SplitRoute(gateways=gateways, weights=FLEET_ROUTE.weights)
    )
    return PolicyDir.create(directory, stable_port, canary_port, gateways=gateways, routes=[route])


class ReplicaProcess(ServeProcess):
    """`breakwater serve --state etcd://...` as a subprocess on its own loopback ports."""

    def __init__(
        self,
        name: str,
        policy_dir: Path,
        state: str,
        workdir: Path,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(
            policy_dir,
            state,
            workdir / f"replica-{name}.log",
            name=f"replica {name}",
            extra_args=extra_args,
        )

    # --- admin API -------------------------------------------------------

    def get(self, path: str) -> tuple[int, Any]:
        reply = http("GET", self.admin_url + path)
        code, body = reply.status, reply.body
        return code, body

    def status(self) -> dict[str, Any]:
        code, body = self.get("/v1/status")
        assert code == 200, body
        result: dict[str, Any] = body
        return result

    def revision(self) -> int:
        return int(self.status()["state_revision"])

    def proxies(self) -> set[str]:
        return {p["node_id"] for p in self.status()["proxies"]}

    def put_weights(
        self, weights: Mapping[str, int], expected_revision: int | None = None
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {"weights": dict(weights)}
        if expected_revision is not None:
            body["expectedRevision"] = expected_revision
        reply = http("PUT", weights_url(self.admin_url), body)
        code, answer = reply.status, reply.body
        return code, answer

    def weights(self) -> dict[str, Any]:
        code, body = self.get(f"/v1/routes/{ROUTE}/weights")
        assert code == 200, body
        result: dict[str, Any] = body
        return result

    def rollout_status(self, name: str) -> dict[str, Any]:
        """The rollout's status as this replica answers it."""
        code, body = self.get(f"/v1/rollouts/{name}")
        assert code == 200, body
        result: dict[str, Any] = body
        return result

    def metrics(self) -> str:
        """The whole of `/metrics`, for `breakwater.devtools.prometheus.metric`."""
        return metrics_text(self.admin_url, timeout=5.0)

    def store(self) -> dict[str, Any]:
        code, body = self.get("/healthz")
        assert code == 200, body
        result: dict[str, Any] = body["store"]
        return result


class Fleet:
    def __init__(
        self, workdir: Path, etcd: EtcdServer, gateways: tuple[str, ...] = GATEWAYS
    ) -> None:
        self.workdir = workdir
        self.etcd = etcd
        self.state = etcd.url("fleet")
        self.stable = UpstreamServer(service="payments", subset="stable", instance="stable").start()
        self.canary = UpstreamServer(service="payments", subset="canary", instance="canary").start()
        self.policies = fleet_policies(
            workdir / "policies", self.stable.port, self.canary.port, gateways
        )
        self.replicas: list[ReplicaProcess] = []
        self.envoys: list[EnvoyProcess] = []

    def replica(self, name: str, extra_args: Sequence[str] = ()) -> ReplicaProcess:
        """A replica with its ports chosen, not started yet."""
        replica = ReplicaProcess(name, self.policies.path, self.state, self.workdir, extra_args)
        self.replicas.append(replica)
        return replica

    def envoy(
        self, gateway: str, xds: list[ReplicaProcess], node_id: str, **bootstrap: Any
    ) -> EnvoyProcess:
        """A started Envoy for one gateway, its xds_cluster listing these replicas in order;
        `bootstrap` holds further options of `render_bootstrap` (the stats flush interval)."""
        envoy = envoy_for(
            [replica.xds_port for replica in xds],
            node_id,
            self.workdir / node_id,
            cluster=gateway,
            log_level="warn",
            connect_timeout="0.25s",
            **bootstrap,
        )
        self.envoys.append(envoy)
        envoy.start()
        wait_until(lambda: self.split(gateway, 5) is not None, 10.0, f"{gateway} serving")
        return envoy

    def split(self, gateway: str, count: int = 20) -> float | None:
        """Share of `count` requests through a gateway that reached the canary; None on errors."""
        result = send_requests(self.policies.url(gateway), count, concurrency=4, timeout=2.0)
        if result.ok != count:
            return None
        return result.subset_fraction("canary")

    def wait_split(self, gateway: str, canary: float, timeout: float) -> float:
        """Seconds until every request through `gateway` lands as `canary` (0.0 or 1.0) says."""
        started = time.monotonic()
        wait_until(
            lambda: self.split(gateway, 10) == canary,
            timeout,
            f"{gateway} sending {canary:.0%} to the canary",
            interval=0.01,
        )
        return time.monotonic() - started

    def continuous(self, gateway: str, max_duration: float = 60.0) -> ContinuousTraffic:
        return ContinuousTraffic(
            self.policies.url(gateway), rate=100.0, timeout=2.0, max_duration=max_duration
        )

    def close(self) -> None:
        for envoy in self.envoys:
            envoy.cleanup()
        for replica in self.replicas:
            replica.stop()
        self.stable.stop()
        self.canary.stop()
