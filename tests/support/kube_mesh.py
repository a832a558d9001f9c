"""The control plane reading a real API server, and a real Envoy it configures.

What `serve --kubernetes --kubeconfig FILE --namespace NS` runs, in a thread of
the test (`ControlPlaneThread`), with one Envoy fetching from it: the test
writes objects through the API server and reads what Envoy holds and does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self, TypeVar

from breakwater.controlplane.kubernetes.options import KubernetesOptions
from breakwater.controlplane.kubernetes.source import KubernetesSource
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.traffic import ContinuousTraffic, HeadersArg, TrafficResult
from breakwater.devtools.traffic import send_requests as _send_requests
from breakwater.devtools.waiting import wait_until
from tests.support.envoy import envoy_for

T = TypeVar("T")

NODE_ID = "kube-edge-1"
NODE_CLUSTER = "edge"


class KubeMesh:
    """`serve --kubernetes` for `namespaces`, and one Envoy; `close` stops both. The Lease
    and the state ConfigMaps live in the first namespace, the test's own."""

    def __init__(self, workdir: Path, kubeconfig: Path, namespaces: Sequence[str]) -> None:
        self.workdir = workdir
        (workdir / "state").mkdir(parents=True, exist_ok=True)
        self.options = KubernetesOptions(
            kubeconfig=kubeconfig,
            namespaces=tuple(namespaces),
            backoff_initial=0.1,
            backoff_cap=1.0,
            control_namespace=next(iter(namespaces), None),
            lease_duration=3.0,
        )
        self.control_plane = ControlPlaneThread(
            workdir / "unused", workdir / "state", kubernetes=self.options
        )
        self.envoy: EnvoyProcess | None = None
        self.gateway_port = 0

    def start(self, gateway_port: int) -> Self:
        self.gateway_port = gateway_port
        self.control_plane.start(timeout=30.0)
        self.envoy = envoy_for(
            self.control_plane.xds_port,
            NODE_ID,
            self.workdir / "envoy",
            cluster=NODE_CLUSTER,
            log_level="warn",
        )
        self.envoy.start()
        return self

    def close(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        self.control_plane.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def source(self) -> KubernetesSource:
        """The control plane's Kubernetes source (its watches' health, its reports)."""
        plane = self.control_plane.plane
        assert plane is not None and isinstance(plane.source, KubernetesSource)
        return plane.source

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    # --- what Envoy holds -------------------------------------------------------------

    def hosts(self, cluster: str) -> dict[str, str]:
        """`ADDRESS:PORT` → its EDS health status (HEALTHY, DRAINING, …) in Envoy's cluster."""
        assert self.envoy is not None
        for status in self.envoy.clusters().get("cluster_statuses", []):
            if status.get("name") != cluster:
                continue
            found: dict[str, str] = {}
            for host in status.get("host_statuses", []):
                socket = host["address"]["socket_address"]
                health = host.get("health_status", {}).get("eds_health_status", "HEALTHY")
                found[f"{socket['address']}:{socket['port_value']}"] = health
            return found
        return {}

    def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        def alive() -> None:
            if self.envoy is not None and not self.envoy.running:
                raise AssertionError(f"Envoy exited:\n{self.envoy.log_tail()}")

        return wait_until(predicate, timeout=timeout, what=what, check=alive)

    # --- traffic ----------------------------------------------------------------------

    def send(
        self, count: int, *, path: str = "/", headers: HeadersArg = None, concurrency: int = 4
    ) -> TrafficResult:
        return _send_requests(
            self.url, count, path=path, headers=headers, concurrency=concurrency, max_duration=30.0
        )

    def continuous(self, rate: float, max_duration: float = 40.0) -> ContinuousTraffic:
        return ContinuousTraffic(self.url, rate=rate, timeout=2.0, max_duration=max_duration)


def served(mesh: KubeMesh, cluster: str, expected: dict[str, str]) -> Callable[[], bool]:
    """A predicate: Envoy's cluster holds exactly `expected` (`ADDRESS:PORT` → health)."""
    return lambda: mesh.hosts(cluster) == expected


__all__ = ["KubeMesh", "served"]
