"""The resources Breakwater serves for the fan-out scenario, written out for the peer servers.

A real ``breakwater serve`` is started on the fan-out policy set and one ADS
stream, subscribed as Envoy subscribes, records what it is served; then each
weight change of the fan-out benchmark is made through the API and the
resources are recorded again. So the peers serve byte for byte what
Breakwater serves, before and after every change, and nothing is
re-rendered by hand.

Each state goes to ``snapshot-N.txt``: one line per resource, its type URL,
a tab, and the base64 of its encoded ``google.protobuf.Any``. Snapshot 0 is
the starting state; snapshot ``i + 1`` follows the i-th entry of
``bench.scenario.WEIGHTS``.

Run: ``python -m bench.peers.resources --out build/bench/peers``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from bench.loadgen import ALL_TYPES, CDS, EDS, EOF, LDS, RDS, SOTW_METHOD, eds_names, rds_names
from bench.policies import NODE_CLUSTER, write_policies
from bench.scenario import FANOUT_SERVICES, ROUTE, WEIGHTS
from bench.server import BreakwaterServer

ROOT = Path(__file__).resolve().parents[2]
Held = dict[str, list[bytes]]
"""Encoded ``Any`` resources by type URL."""


async def _record(
    target: str, changes: list[tuple[int, int]], server: BreakwaterServer
) -> list[Held]:
    """What one SotW stream holds at the start and after each weight change."""
    states: list[Held] = []
    async with grpc.aio.insecure_channel(target) as channel:
        method: Any = channel.stream_stream(
            SOTW_METHOD,
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=discovery_pb2.DiscoveryResponse.FromString,
        )
        call = method()
        node = base_pb2.Node(id="peer-recorder", cluster=NODE_CLUSTER)
        await call.write(discovery_pb2.DiscoveryRequest(node=node, type_url=CDS))
        await call.write(discovery_pb2.DiscoveryRequest(type_url=LDS))
        held: Held = {}
        names: dict[str, list[str]] = {}
        pending = list(changes)
        last = ""
        while True:
            response: Any = await asyncio.wait_for(call.read(), 30)
            if response is EOF:
                raise RuntimeError("breakwater ended the stream")
            type_url = response.type_url
            held[type_url] = [r.SerializeToString(deterministic=True) for r in response.resources]
            values = [r.value for r in response.resources]
            follow = {CDS: (EDS, eds_names), LDS: (RDS, rds_names)}.get(type_url)
            if follow is not None:
                wanted = sorted(follow[1](values))
                if names.get(follow[0]) != wanted:
                    names[follow[0]] = wanted
                    await call.write(
                        discovery_pb2.DiscoveryRequest(type_url=follow[0], resource_names=wanted)
                    )
            await call.write(
                discovery_pb2.DiscoveryRequest(
                    type_url=type_url,
                    version_info=response.version_info,
                    response_nonce=response.nonce,
                    resource_names=names.get(type_url, []),
                )
            )
            # A route waiting for its clusters comes as an empty RDS answer first.
            if type_url == RDS and held[RDS] and response.version_info != last:
                last = response.version_info
                states.append({t: list(held[t]) for t in ALL_TYPES})
                if not pending:
                    call.cancel()
                    return states
                stable, canary = pending.pop(0)
                await asyncio.to_thread(
                    server.set_weights, ROUTE, {"stable": stable, "canary": canary}
                )


def write_snapshot(path: Path, held: Held) -> None:
    lines = [
        f"{type_url}\t{base64.b64encode(raw).decode()}\n"
        for type_url in ALL_TYPES
        for raw in held[type_url]
    ]
    path.write_text("".join(lines))


def recorded(out: Path) -> Path:
    """``out``, holding the snapshots; recorded now unless an earlier run left them there."""
    if not all((out / f"snapshot-{i}.txt").exists() for i in range(len(WEIGHTS) + 1)):
        dump(out)
    return out


def dump(out: Path) -> list[Path]:
    """Write ``snapshot-0.txt`` … into ``out``, from a Breakwater serving the fan-out set."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"snapshot-{i}.txt" for i in range(len(WEIGHTS) + 1)]
    policies = write_policies(out / "policies", FANOUT_SERVICES)
    with BreakwaterServer(policies, out / "server") as server:
        states = asyncio.run(_record(server.xds_address, list(WEIGHTS), server))
    for path, held in zip(paths, states, strict=True):
        write_snapshot(path, held)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "peers")
    args = parser.parse_args()
    for path in dump(args.out):
        print(path)


if __name__ == "__main__":
    main()
