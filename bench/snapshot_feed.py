"""What feeding an xDS worker process would cost: encoded snapshots over a socket, rebuilt.

`serve --workers N` (docs/design.md, "Next step") has the translating process
send each worker what changed in a group's snapshot as already-encoded
resources: (type URL, name, version, encoded ``Any``, references) per resource.
This measures that path at N services (the `bench.edit` mesh: one gateway, N
services with a breaker, bulkhead, retry, health check and a 90/10 route):

* the whole snapshot (a worker starting, or a group new to it): pickling the
  tuples, sending them over a Unix socket pair, unpickling them and rebuilding
  ``Resource`` objects (no protobuf decoding: the response entries are byte
  prefixes) and a ``Snapshot``;
* one weight change (what a route edit changes: the route configurations):
  the same for the changed resources only, the worker's ``Snapshot`` made with
  its previous one so the unchanged types are taken over.

Run: ``python -m bench.snapshot_feed --services 10000`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import pickle
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.policies import NODE_CLUSTER, write_policies
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.translators.envoy.encoded import (
    Resource,
    encode_bytes_field,
    encode_str_field,
)

ROOT = Path(__file__).resolve().parents[1]
Wire = tuple[str, str, str, bytes, frozenset[tuple[str, str]]]


def to_wire(resources: Mapping[str, Sequence[Resource]]) -> list[Wire]:
    return [
        (r.type_url, r.name, r.version, r.any_bytes, r.refs)
        for items in resources.values()
        for r in items
    ]


def from_wire(items: list[Wire]) -> dict[str, list[Resource]]:
    """Resources as the translating process made them, without decoding a message."""
    out: dict[str, list[Resource]] = {}
    for type_url, name, version, packed, refs in items:
        entry = encode_str_field(1, version) + encode_bytes_field(2, packed)
        out.setdefault(type_url, []).append(
            Resource(
                type_url=type_url,
                name=name,
                version=version,
                any_bytes=packed,
                refs=refs,
                sotw_entry=encode_bytes_field(2, packed),
                delta_entry=encode_bytes_field(2, entry + encode_str_field(3, name)),
            )
        )
    return out


def send(items: list[Wire]) -> tuple[list[Wire], dict[str, float]]:
    """Pickle, send over a Unix socket pair (a reader thread), unpickle; the times of each."""
    left, right = socket.socketpair()
    started = time.perf_counter()
    payload = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    pickled = time.perf_counter()
    received = bytearray()

    def read() -> None:
        while len(received) < len(payload):
            received.extend(right.recv(1 << 20))

    reader = threading.Thread(target=read)
    reader.start()
    left.sendall(payload)
    reader.join()
    sent = time.perf_counter()
    back: list[Wire] = pickle.loads(received)
    done = time.perf_counter()
    left.close()
    right.close()
    return back, {
        "bytes": len(payload),
        "pickle_s": pickled - started,
        "send_s": sent - pickled,
        "unpickle_s": done - sent,
    }


def measure(services: int, workdir: Path) -> dict[str, Any]:
    from bench.policies import service_name
    from bench.translate import _Weights
    from breakwater.controlplane.state.sources import load_policy_files
    from breakwater.translators.overrides import apply_overrides
    from breakwater.translators.snapshot import build, node_group

    directory = write_policies(workdir / f"policies-{services}", services)
    _, loaded = load_policy_files(directory)
    policyset = loaded.policyset
    if policyset is None:
        raise RuntimeError(f"generated policies do not load: {loaded.errors[:3]}")
    group = node_group(policyset, NODE_CLUSTER, {})
    resources = build(policyset, group)
    result: dict[str, Any] = {
        "services": services,
        "resources": sum(len(items) for items in resources.values()),
    }

    items, whole = send(to_wire(resources))
    started = time.perf_counter()
    rebuilt = from_wire(items)
    whole["rebuild_s"] = time.perf_counter() - started
    started = time.perf_counter()
    first = Snapshot(rebuilt)
    whole["snapshot_s"] = time.perf_counter() - started
    whole["total_s"] = sum(v for k, v in whole.items() if k.endswith("_s"))
    result["whole"] = whole

    shifted, _ = apply_overrides(
        policyset, [_Weights(service_name(0), {"stable": 50, "canary": 50})]
    )
    changed = build(shifted, group)
    old = {(r.type_url, r.name): r.version for items in resources.values() for r in items}
    delta = [w for w in to_wire(changed) if old.get((w[0], w[1])) != w[2]]
    items, edit = send(delta)
    started = time.perf_counter()
    patched = from_wire(items)
    merged = {
        type_url: (
            [patched_by.get(r.name, r) for r in kept]
            if (patched_by := {r.name: r for r in patched.get(type_url, [])})
            else kept
        )
        for type_url, kept in rebuilt.items()
    }
    edit["rebuild_s"] = time.perf_counter() - started
    started = time.perf_counter()
    Snapshot(merged, first)
    edit["snapshot_s"] = time.perf_counter() - started
    edit["total_s"] = sum(v for k, v in edit.items() if k.endswith("_s"))
    result["weight_change"] = edit
    result["weight_change_resources"] = [f"{w[0].rsplit('.', 1)[-1]} {w[1]}" for w in delta]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench")
    args = parser.parse_args()
    print(json.dumps(measure(args.services, args.workdir)))


if __name__ == "__main__":
    main()
