"""What asking every stream for its status costs, against asking once per arrival or departure.

The reconciler asks for the proxies per zone on every build. It used to build the
status of every stream for it (`local_zones(registry.streams())`); now it asks
`StreamRegistry.per_membership`, which works that out again only when a proxy came
or went, from each stream as it connected (no status of every stream). This times
both over N SotW streams subscribed to CDS, EDS, LDS and RDS (real stream objects,
no connections).

Run: ``python -m bench.stream_walk --streams 10000`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from breakwater.controlplane.reconciler import local_zones
from breakwater.controlplane.xds.sotw import SotwStream
from breakwater.controlplane.xds.status import StreamRegistry
from breakwater.xds_types import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE

WILDCARD = (CLUSTER_TYPE, LISTENER_TYPE)


def registry_of(streams: int) -> StreamRegistry:
    registry = StreamRegistry()
    for index in range(streams):
        stream = SotwStream(index, "ipv4:127.0.0.1:1", registry, 1.0)
        node = base_pb2.Node(id=f"proxy-{index}", cluster="edge")
        stream.node = node
        stream.group = "edge"
        for type_url in (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE):
            names = [] if type_url in WILDCARD else ["a", "b"]
            stream.handle(
                discovery_pb2.DiscoveryRequest(node=node, type_url=type_url, resource_names=names)
            )
        registry.add(stream)
        registry.emit("on_connect", stream.status())  # as the servicer does once it is named
    return registry


def seconds_per_call(call: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    registry = registry_of(args.streams)
    memo = registry.per_membership(local_zones)
    first = seconds_per_call(memo, 1)
    print(
        json.dumps(
            {
                "streams": args.streams,
                "every_stream_s": seconds_per_call(
                    lambda: local_zones(registry.streams()), args.calls
                ),
                "per_membership_first_s": first,
                "per_membership_again_s": seconds_per_call(memo, args.calls),
            }
        )
    )


if __name__ == "__main__":
    main()
