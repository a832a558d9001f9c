"""`loadBalancer` through a real Envoy: least-request avoids a slow host, ring-hash keeps a key
on one host, and slow start ramps a new host's share over its window."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

SLOW = 0.1


def _balanced(body: str, *upstreams: str) -> str:
    return service("payments", *upstreams) + PAYMENTS_ROUTE + resilience_policy("lb", body)


def _slow_share(mesh: Mesh, policy: str) -> float:
    """The slow host's share of 600 requests, 12 at a time, with `policy` from the start."""
    mesh.upstream("fast", service="payments")
    mesh.upstream("slow", service="payments", latency=SLOW)
    mesh.start(_balanced(f"  loadBalancer: {{policy: {policy}}}\n", "fast", "slow"))
    result = mesh.send(600, concurrency=12)
    assert result.ok == 600, result.summary()
    return result.instance_fraction("slow")


def test_least_request_sends_fewer_requests_to_a_slow_host_than_round_robin(
    mesh: Mesh, tmp_path: Path
) -> None:
    # A mesh each, rather than one policy edit: a changed cluster waits in Envoy for its
    # endpoints, which takes Envoy's initial fetch timeout (15 s) with this server.
    round_robin = _slow_share(mesh, "round-robin")
    (tmp_path / "least-request").mkdir()
    other = Mesh(tmp_path / "least-request")
    try:
        least_request = _slow_share(other, "least-request")
    finally:
        other.close()

    print(
        f"share of the slow host: round-robin {round_robin:.0%}, least-request {least_request:.0%}"
    )
    assert 0.4 <= round_robin <= 0.6
    # Envoy picks two hosts at random, possibly the same one twice, and sends to the one with
    # fewer active requests: with two hosts a quarter of the picks are the slow host alone.
    assert least_request < round_robin - 0.15


def test_ring_hash_keeps_each_key_on_one_host(mesh: Mesh) -> None:
    for name in ("a", "b", "c"):
        mesh.upstream(name, service="payments")
    body = "  loadBalancer:\n    policy: ring-hash\n    hashOn: {header: x-cart-id}\n"
    mesh.start(_balanced(body, "a", "b", "c"))

    keys, visits = 60, 10
    result = mesh.send(
        keys * visits, concurrency=8, headers=lambda i: {"x-cart-id": f"cart-{i % keys}"}
    )

    assert result.ok == keys * visits, result.summary()
    hosts: defaultdict[int, set[str | None]] = defaultdict(set)
    for record in result.records:
        hosts[record.index % keys].add(record.instance)
    moved = [key for key, seen in hosts.items() if len(seen) != 1]
    used = {instance for seen in hosts.values() for instance in seen}
    print(f"ring-hash: {keys} keys x {visits} requests, {len(moved)} keys on more than one host")
    assert moved == []
    assert used == {"a", "b", "c"}, used


WINDOW = 6.0


def test_slow_start_ramps_a_new_hosts_share_over_its_window(mesh: Mesh) -> None:
    mesh.upstream("a", service="payments")
    mesh.upstream("b", service="payments")
    body = f"  loadBalancer:\n    policy: round-robin\n    slowStart: {{window: {WINDOW:g}s}}\n"
    mesh.start(_balanced(body, "a", "b"))

    with mesh.continuous(rate=300, max_duration=30.0) as traffic:
        traffic.wait_for(300, timeout=5.0)
        new = mesh.upstream("new", service="payments")
        mesh.write_policies(_balanced(body, "a", "b", "new"))
        mesh.wait_for(
            lambda: mesh.cluster_stat("payments", "membership_total") == 3, 5.0, "the new host"
        )
        shares: list[float] = []
        counts = [sum(s.stats().requests for s in mesh.upstreams.values()), new.stats().requests]
        for _ in range(int(WINDOW) + 2):
            time.sleep(1.0)
            now = [sum(s.stats().requests for s in mesh.upstreams.values()), new.stats().requests]
            shares.append((now[1] - counts[1]) / max(1, now[0] - counts[0]))
            counts = now
        result = traffic.stop()

    print(
        "slow start: the new host's share, second by second: "
        + ", ".join(f"{s:.0%}" for s in shares)
    )
    assert result.errors == 0, result.summary()
    # Without slow start the new host takes a third at once; with it, it starts well below.
    assert shares[0] < 0.25, shares
    assert shares[0] < shares[2] < shares[4], shares
    assert shares[-1] > 0.28, shares
    assert shares[-1] - shares[0] > 0.1, shares
