"""Registration benchmark: renewals one server sustains, and an instance change reaching a proxy.

`breakwater serve` (SQLite state, serve's own debounce) serves one Service
that takes registrations (TTL 30 s) behind one gateway. Measured, in one run:

* registering N instances (one PUT each, 64 at a time) and its rate;
* renewing them as fast as 64 concurrent clients can for `--seconds`: the
  renewals per second the server answered, and its CPU per 1 000 renewals.
  N instances at a 30 s TTL renewed every TTL/3 (what `--keepalive` does)
  need N / 10 renewals per second; the ratio says how much room is left
  (the run itself registers with a 5 min TTL, so that no instance expires
  while the others register: a renewal costs the same whatever its TTL);
* the cost of one instance change reaching a proxy: a simulated Envoy (one
  ADS stream, every response ACKed) holds the Service's assignment; one more
  instance registers, and the time from the API's answer to the proxy
  holding the new endpoint is taken, with N instances registered and with
  10, median of `--changes` changes each.

The load generator runs on the same machine (and cores) as the server.
`python -m bench.registration --instances N` prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.service.discovery.v3 import discovery_pb2

from bench.loadgen import CDS, EDS, EOF, eds_names, sotw_stream
from bench.server import BreakwaterServer

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 64
TTL = "300s"
"""The TTL the instances register and renew with during the run, long enough that none
expires while 10 000 register; a renewal costs the same whatever its TTL."""
CONTRACT_TTL = 30.0
"""The TTL the needed rate is worked out for: 30 s, renewed every TTL/3 (`--keepalive`)."""
RENEWALS_PER_TTL = 3
TIMEOUT = 120.0

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  registration: {ttl: 30s, maxInstances: 100000}
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: small}
spec:
  registration: {ttl: 30s}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec: {port: 10000, nodeSelector: {cluster: bench}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - matches: [{path: {prefix: /small}}]
      backends: [{service: small}]
    - backends: [{service: payments}]
"""


def address(index: int) -> str:
    """A distinct address per instance (nothing is ever sent to it)."""
    return f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}:8080"


class Proxy:
    """One ADS stream that subscribes to every cluster's assignment and ACKs everything."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.assignments: dict[str, set[str]] = {}
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with sotw_stream(self.target, "bench-registration", "bench") as call:
            subscribed: list[str] = []
            while True:
                response: Any = await call.read()
                if response is EOF:
                    return
                values = [r.value for r in response.resources]
                if response.type_url == CDS:
                    subscribed = sorted(eds_names(values))
                    await call.write(
                        discovery_pb2.DiscoveryRequest(type_url=EDS, resource_names=subscribed)
                    )
                elif response.type_url == EDS:
                    for value in values:
                        assignment = endpoint_pb2.ClusterLoadAssignment.FromString(value)
                        self.assignments[assignment.cluster_name] = {
                            f"{lb.endpoint.address.socket_address.address}:"
                            f"{lb.endpoint.address.socket_address.port_value}"
                            for locality in assignment.endpoints
                            for lb in locality.lb_endpoints
                        }
                    self.changed.set()
                await call.write(
                    discovery_pb2.DiscoveryRequest(
                        type_url=response.type_url,
                        version_info=response.version_info,
                        response_nonce=response.nonce,
                        resource_names=subscribed if response.type_url == EDS else [],
                    )
                )

    async def until_holds(self, cluster: str, endpoint: str) -> float:
        deadline = time.monotonic() + TIMEOUT
        while endpoint not in self.assignments.get(cluster, set()):
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the proxy never received {endpoint} in {cluster}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return time.monotonic()


async def _put_all(
    session: aiohttp.ClientSession, base: str, service: str, indexes: range, until: float = 0.0
) -> int:
    """PUT each instance (again and again until `until`, when given); returns the answers."""
    queue = iter(indexes)
    done = 0

    async def worker() -> None:
        nonlocal done, queue
        while True:
            try:
                index = next(queue)
            except StopIteration:
                if until and time.monotonic() < until:
                    queue = iter(indexes)
                    continue
                return
            if until and time.monotonic() >= until:
                return
            url = f"{base}/v1/services/{service}/instances/{address(index)}"
            async with session.put(url, json={"ttl": TTL}) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"PUT {url}: {answer.status} {await answer.text()}")
                await answer.read()
            done += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done


async def _change_cost(
    session: aiohttp.ClientSession, base: str, proxy: Proxy, service: str, first: int, count: int
) -> list[float]:
    """Seconds from one new instance's registration answer until the proxy holds it."""
    took = []
    for index in range(first, first + count):
        endpoint = address(index)
        url = f"{base}/v1/services/{service}/instances/{endpoint}"
        async with session.put(url, json={"ttl": TTL}) as answer:
            assert answer.status == 200, await answer.text()
        answered = time.monotonic()
        took.append(await proxy.until_holds(service, endpoint) - answered)
        await asyncio.sleep(0.3)  # a change at a time, past the debounce
    return took


async def _scenario(
    server: BreakwaterServer, instances: int, seconds: float, changes: int
) -> dict[str, Any]:
    base = server.admin_url
    proxy = Proxy(server.xds_address)
    proxy.task = asyncio.create_task(proxy.run())
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            small = await _change_cost(session, base, proxy, "small", 0, 10 + changes)
            started, cpu = time.monotonic(), server.cpu_seconds()
            await _put_all(session, base, "payments", range(instances))
            registered = time.monotonic() - started
            cpu_registering = server.cpu_seconds() - cpu
            await proxy.until_holds("payments", address(instances - 1))

            started, cpu = time.monotonic(), server.cpu_seconds()
            renewed = await _put_all(
                session, base, "payments", range(instances), until=started + seconds
            )
            renewing = time.monotonic() - started
            cpu_renewing = server.cpu_seconds() - cpu
            large = await _change_cost(session, base, proxy, "payments", instances, changes)
        finally:
            proxy.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await proxy.task
    rate = renewed / renewing
    needed = instances / (CONTRACT_TTL / RENEWALS_PER_TTL)
    return {
        "instances": instances,
        "register_s": registered,
        "registrations_per_s": instances / registered,
        "cpu_per_1000_registrations_s": cpu_registering / instances * 1000,
        "renewals": renewed,
        "renewals_per_s": rate,
        "renewals_needed_per_s": needed,
        "headroom": rate / needed,
        "cpu_per_1000_renewals_s": cpu_renewing / renewed * 1000,
        "server_bound_renewals_per_s": renewed / cpu_renewing if cpu_renewing else None,
        "change_to_proxy_s": {
            "small_service_median": statistics.median(small[10:]),
            f"{instances}_instances_median": statistics.median(large),
            f"{instances}_instances_max": max(large),
        },
        "server_rss_mib": server.rss_bytes() / 2**20,
    }


def run(instances: int, workdir: Path, seconds: float = 10.0, changes: int = 5) -> dict[str, Any]:
    directory = workdir / "registration" / "policies"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mesh.yaml").write_text(POLICIES)
    server = BreakwaterServer(directory, workdir / "registration")
    server.start()
    try:
        return asyncio.run(_scenario(server, instances, seconds, changes))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long renewals run")
    parser.add_argument("--changes", type=int, default=5, help="instance changes timed")
    args = parser.parse_args()
    result = run(args.instances, ROOT / "build" / "bench", args.seconds, args.changes)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()


def section(rows: list[dict[str, Any]]) -> list[str]:
    """The BENCHMARKS.md section of `make bench`'s run."""
    out = [
        "## Registration: renewals and an instance change reaching a proxy",
        "",
        "`python -m bench.registration --instances N`: N instances register with one Service",
        "(64 clients at a time, SQLite state), then renew as fast as the clients can for 10 s;",
        "N instances at a 30 s TTL renewed every TTL/3 need N/10 renewals per second. A renewal",
        "touches only the store (renewals arriving together share one transaction); registrations",
        "arriving together share one transaction with their history entries, and a publish lays",
        "over the YAML only the Service whose instances changed. Then one",
        "more instance registers, 5 times: from the API's answer to a simulated proxy (one ADS",
        "stream) holding it. The load generator shares the server's cores, so the rate it",
        "reaches is a floor; the server's own CPU per renewal gives the rate one core allows.",
        "",
        "| instances | registering N | registrations/s | CPU per 1 000 registrations | renewals/s answered | needed | CPU per 1 000 renewals | renewals/s per server core | change → proxy (10 instances) | change → proxy (N), median / max | RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        if "failed" in row:
            out.append(f"| ? | failed: {row['failed']} |" + " |" * 9)
            continue
        n = row["instances"]
        change = row["change_to_proxy_s"]
        out.append(
            f"| {n} | {row['register_s']:.1f} s | {row['registrations_per_s']:.0f} "
            f"| {row['cpu_per_1000_registrations_s']:.2f} s | {row['renewals_per_s']:.0f} "
            f"| {row['renewals_needed_per_s']:.0f} | {row['cpu_per_1000_renewals_s']:.2f} s "
            f"| {row['server_bound_renewals_per_s']:.0f} "
            f"| {change['small_service_median']:.3f} s "
            f"| {change[f'{n}_instances_median']:.3f} / {change[f'{n}_instances_max']:.3f} s "
            f"| {row['server_rss_mib']:.0f} MiB |"
        )
    return [*out, ""]
