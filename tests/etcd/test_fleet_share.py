"""Three replicas on etcd, one Envoy on each: the rollout's analysis, and the services' status,
count every proxy's requests, not only those of the proxies on the deciding replica.

Real parts throughout: etcd, three `breakwater serve` processes, three Envoys (each with
only its own replica in its bootstrap, so each replica hears one third of the fleet),
stable and canary upstreams, and bounded bursts of traffic through each Envoy.

Why the counts must match exactly: every request of the burst is sent after one analysis
was judged (and a second later, so that the next window, which starts at that judgement or
a tick after it, holds the burst's first request) and the last of its reports reaches the
deciding replica within a flush (1 s), a publish (1 s) and a read of the peers (1 s), well
inside the next window. The reporting interval's edges, which would otherwise cost up to one
flush per proxy at each end of a window, fall where no request was sent.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from breakwater.controlplane.fleet.contract import RATE_WINDOW_SECONDS
from breakwater.controlplane.state.replicas import LEASE_TTL
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.traffic import send_requests
from breakwater.devtools.waiting import wait_until
from tests.etcd.etcd_server import EtcdServer
from tests.etcd.fleet import Fleet, ReplicaProcess
from tests.support.envoy import envoy_route_weights
from tests.support.policies import CANARY, ROUTE, STABLE

GATEWAYS = ("edge-a", "edge-b", "edge-c")
FLUSH = 1.0
"""Seconds between each proxy's stats flushes and load reports."""
INTERVAL = 10
"""The analysis interval, in seconds: long enough for a burst and its reports to fit inside."""
BURST = 40
"""Requests through each Envoy: a few seconds of work for two shared cores at most."""
NAME = "payments"

ROLLOUT_YAML = f"""\
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {{name: {NAME}}}
spec:
  routeRef: {{name: {ROUTE}, rule: 0}}
  stable: stable
  canary: canary
  steps:
    - setWeight: 50
    - pause: {{}}
  analysis:
    interval: {INTERVAL}s
    minRequests: 100000
    failureLimit: 3
    successRate: {{min: 50}}
"""
"""A rollout that stays at 50 % and judges an interval every INTERVAL seconds: minRequests is
out of reach, so each judgement is inconclusive and nothing moves while the test counts."""


def _canary_sent(envoy: EnvoyProcess) -> int:
    """Requests this Envoy sent to the canary, by its own counter."""
    stats = envoy.stats(filter="upstream_rq_total")
    return int(stats.get(f"cluster.{CANARY}.upstream_rq_total", 0))


def _has_one_proxy(replica: ReplicaProcess) -> bool:
    return len(replica.proxies()) == 1


def _at_half(envoy: EnvoyProcess, gateway: str) -> bool:
    return envoy_route_weights(envoy, gateway, ROUTE) == {STABLE: 50, CANARY: 50}


def _analyses(replica: ReplicaProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = replica.rollout_status(NAME).get("analyses", [])
    return found


def _next_analysis(replica: ReplicaProcess, after: int, timeout: float) -> dict[str, Any]:
    """The first judgement after the `after` first ones, waited for."""
    wait_until(lambda: len(_analyses(replica)) > after, timeout, "the next analysis", interval=0.05)
    return _analyses(replica)[after]


def _canary_in_status(replica: ReplicaProcess) -> int:
    """Canary requests over the status window (30 s), as this replica's `/v1/status` sees them."""
    for entry in replica.status()["services"]:
        if (entry["service"], entry["subset"]) == ("payments", "canary"):
            return round(float(entry["requests_per_second"]) * RATE_WINDOW_SECONDS)
    return 0


def test_the_deciding_replica_counts_every_proxys_requests(
    tmp_path: Path, etcd: EtcdServer
) -> None:
    fleet = Fleet(tmp_path, etcd, gateways=GATEWAYS)
    try:
        _run(fleet)
    finally:
        fleet.close()


def _run(fleet: Fleet) -> None:
    args = ["--load-report-interval", f"{FLUSH:g}"]
    replicas = [fleet.replica(name, args).start() for name in ("a", "b", "c")]
    envoys = [
        fleet.envoy(gateway, [replica], f"{gateway}-1", stats_flush_interval=f"{FLUSH:g}s")
        for gateway, replica in zip(GATEWAYS, replicas, strict=True)
    ]
    for replica in replicas:
        wait_until(partial(_has_one_proxy, replica), 5.0, f"a proxy on {replica.name}")

    # The rollout begins once every Envoy sent its first requests at 100/0: the canary's
    # counters hold only what the burst sends.
    fleet.policies.replace(fleet.policies.path / "rollouts.yaml", ROLLOUT_YAML)
    for gateway, envoy in zip(GATEWAYS, envoys, strict=True):
        wait_until(partial(_at_half, envoy, gateway), 10.0, f"{gateway} at 50 %")
    a = replicas[0]
    judged = len(_analyses(a))
    _next_analysis(a, judged, INTERVAL + 5.0)
    time.sleep(1.0)

    before = [_canary_sent(envoy) for envoy in envoys]
    started = time.monotonic()
    for gateway in GATEWAYS:
        result = send_requests(fleet.policies.url(gateway), BURST, concurrency=4, timeout=2.0)
        assert result.ok == BURST, result.summary()
    took = time.monotonic() - started
    sent = [_canary_sent(envoy) - b for envoy, b in zip(envoys, before, strict=True)]
    assert all(s > 0 for s in sent), sent
    assert took < INTERVAL - 5.0, f"the burst took {took:.1f} s, too long to fit one window"

    analysis = _next_analysis(a, judged + 1, INTERVAL + 5.0)
    assert analysis["canary_requests"] == sum(sent), (
        f"the analysis counted {analysis['canary_requests']} canary requests; the Envoys sent "
        f"{sent} (sum {sum(sent)})"
    )

    # The services' status on any replica counts the whole fleet too.
    for replica in replicas:
        assert _canary_in_status(replica) == sum(sent), replica.name

    # A replica killed outright: its share leaves the others' view once its lease expires.
    replicas[2].kill9()
    killed = time.monotonic()
    wait_until(
        lambda: _canary_in_status(a) == sent[0] + sent[1],
        LEASE_TTL + 5.0,
        "replica c's share leaving a's view",
        interval=0.1,
    )
    left = time.monotonic() - killed
    assert left <= LEASE_TTL + 1.5, left
    # Replica b reads its peers once a second too: it sees c go within that second.
    wait_until(
        lambda: _canary_in_status(replicas[1]) == sent[0] + sent[1],
        2.0,
        "replica c's share leaving b's view",
        interval=0.1,
    )
    print(
        f"canary requests sent {sent}, counted by the analysis: {analysis['canary_requests']}; "
        f"replica c's share left the view {left:.1f} s after kill -9"
    )
