"""The xDS server against a real Envoy 1.40: every claim checked on a live proxy."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from breakwater.controlplane.xds.resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
    Snapshot,
)
from breakwater.devtools.envoy import EnvoyProcess, find_envoy, free_port, wait_until
from tests.controlplane import builders
from tests.controlplane.harness import Traffic, Upstream, XdsHarness, get

try:
    find_envoy()
except Exception as error:  # pragma: no cover - depends on the environment
    pytest.skip(f"no Envoy binary: {error}", allow_module_level=True)

MODES = [pytest.param(False, id="sotw"), pytest.param(True, id="delta")]


@pytest.fixture
def xds() -> Iterator[XdsHarness]:
    harness = XdsHarness()
    yield harness
    harness.close()


@pytest.fixture
def upstreams() -> Iterator[dict[str, Upstream]]:
    servers = {label: Upstream(label) for label in ("a", "b", "c")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def envoys() -> Iterator[list[EnvoyProcess]]:
    started: list[EnvoyProcess] = []
    yield started
    for envoy in started:
        envoy.cleanup()


def start(envoys: list[EnvoyProcess], envoy: EnvoyProcess) -> EnvoyProcess:
    envoys.append(envoy)
    return envoy.start()


def a_and_b(upstreams: dict[str, Upstream], port: int) -> Snapshot:
    """Upstreams `a` and `b`, 50/50, behind the listener on `port`."""
    return builders.snapshot(
        backends={"a": [upstreams["a"].port], "b": [upstreams["b"].port]},
        weights={"a": 50, "b": 50},
        listener_port=port,
    )


def route_header(envoy: EnvoyProcess, route: str = "ingress-routes") -> str | None:
    """The ``x-config`` response header value of the route config Envoy runs."""
    for config in envoy.config_dump("dynamic_route_configs")["configs"]:
        if config["route_config"]["name"] != route:
            continue
        for vhost in config["route_config"]["virtual_hosts"]:
            for entry in vhost["routes"]:
                for header in entry.get("response_headers_to_add", []):
                    if header["header"]["key"] == "x-config":
                        return str(header["header"]["value"])
    return None


@pytest.mark.parametrize("delta", MODES)
def test_envoy_acks_every_type_and_traffic_reaches_upstreams(xds, upstreams, envoys, delta):
    port = free_port()
    xds.set_snapshot("edge", a_and_b(upstreams, port))
    envoy = start(envoys, xds.envoy("edge-1", "edge", delta=delta))

    envoy.wait_for(lambda: xds.synced("edge-1"), 3, "all types acknowledged")
    (stream,) = xds.streams("edge-1")
    assert stream.mode == ("delta" if delta else "sotw")
    assert stream.group == "edge"
    assert set(stream.types) == set(PUSH_ORDER)
    for status in stream.types.values():
        assert status.acked_version == status.sent_version == status.target_version != ""
        assert status.nacks == 0
    # The first answers went out in make-before-break order.
    first_sends = [e.type_url for e in xds.log.of("send", "edge-1")][:4]
    assert first_sends == list(PUSH_ORDER)

    seen = {get(port)[1] for _ in range(40)}
    assert seen == {"a", "b"}
    assert envoy.dynamic_names("clusters") == {"a", "b"}
    assert envoy.dynamic_names("listeners") == {"ingress"}


@pytest.mark.parametrize("delta", MODES)
def test_snapshot_change_reaches_config_dump_within_two_seconds(xds, upstreams, envoys, delta):
    port = free_port()
    xds.set_snapshot(
        "edge",
        builders.snapshot(
            backends={"a": [upstreams["a"].port]},
            weights={"a": 100},
            listener_port=port,
            header=("x-config", "v1"),
        ),
    )
    envoy = start(envoys, xds.envoy("edge-1", "edge", delta=delta))
    assert route_header(envoy) == "v1"

    changed_at = time.monotonic()
    xds.set_snapshot(
        "edge",
        builders.snapshot(
            backends={"a": [upstreams["a"].port], "c": [upstreams["c"].port]},
            weights={"a": 30, "c": 70},
            listener_port=port,
            header=("x-config", "v2"),
        ),
    )
    envoy.wait_for(
        lambda: route_header(envoy) == "v2" and "c" in envoy.dynamic_names("clusters"),
        2.0,
        "v2 in the config dump",
    )
    elapsed = time.monotonic() - changed_at
    assert elapsed < 2.0
    envoy.wait_for(lambda: xds.synced("edge-1"), 2, "v2 acknowledged")
    assert {get(port)[1] for _ in range(60)} == {"a", "c"}


MARGIN = 0.05
"""Slack between a client's clock and the moment Envoy's worker routes the request."""


def sent_since(traffic: Traffic, begin: float, count: int) -> bool:
    """At least ``count`` requests went out between ``begin`` and a margin before now."""
    return len(traffic.between(begin, time.monotonic() - MARGIN)) >= count


def back_on_b(traffic: Traffic, xds: XdsHarness, served_before: int) -> bool:
    return traffic.bodies()["b"] > served_before + 5 and xds.synced("edge-1")


@pytest.mark.parametrize("delta", MODES)
def test_removing_a_backend_under_traffic_gives_no_errors(xds, upstreams, envoys, delta):
    port = free_port()
    both = a_and_b(upstreams, port)
    only_a = builders.snapshot(
        backends={"a": [upstreams["a"].port]}, weights={"a": 100}, listener_port=port
    )
    xds.set_snapshot("edge", both)
    envoy = start(envoys, xds.envoy("edge-1", "edge", delta=delta))

    without_b: list[tuple[float, float]] = []
    removals: list[int] = []
    with Traffic(port, connections=4) as traffic:
        envoy.wait_for(lambda: len(traffic.bodies()) == 2, 3, "traffic to both backends")
        for _ in range(3):
            removals.append(len(xds.log.events))
            xds.set_snapshot("edge", only_a)
            envoy.wait_for(
                lambda: "b" not in envoy.dynamic_names("clusters") and xds.synced("edge-1"),
                3,
                "cluster b removed",
            )
            begin = time.monotonic() + MARGIN
            envoy.wait_for(partial(sent_since, traffic, begin, 20), 3, "traffic after removal")
            without_b.append((begin, time.monotonic() - MARGIN))
            served_by_b = traffic.bodies()["b"]
            removals.append(len(xds.log.events))
            xds.set_snapshot("edge", both)
            envoy.wait_for(partial(back_on_b, traffic, xds, served_by_b), 3, "traffic back on b")

    assert len(traffic.snapshot()) > 200
    assert traffic.failures() == []
    # Requests in flight to b when it went away completed; later ones went to a
    # (allowing a straggler or two when a loaded machine delays Envoy's worker).
    for begin, end in without_b:
        bodies = Counter(r.body for r in traffic.between(begin, end))
        assert bodies["a"] >= 20 and bodies["b"] <= bodies["a"] // 20, bodies
    # Each removal took two steps: the routes without b, and only once the
    # proxy had acknowledged them, the clusters without b.
    routes_without_b = only_a.type_version(ROUTE_TYPE)
    clusters_without_b = only_a.type_version(CLUSTER_TYPE)
    for begin, end in zip(removals[::2], removals[1::2], strict=True):
        cycle = [(e.kind, e.type_url, e.version) for e in xds.log.events[begin:end]]
        routes_acked = cycle.index(("ack", ROUTE_TYPE, routes_without_b))
        clusters_sent = cycle.index(("send", CLUSTER_TYPE, clusters_without_b))
        assert cycle.index(("send", ROUTE_TYPE, routes_without_b)) < routes_acked < clusters_sent


def _nack_cases() -> list[object]:
    bad_cluster = builders.eds_cluster("b")
    bad_cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
    bad_route = builders.weighted_routes("ingress-routes", {"a": 100})
    bad_route.virtual_hosts[0].routes[0].match.safe_regex.regex = "(("
    bad_listener = builders.http_listener("extra", 80, "ingress-routes", host="256.0.0.1")
    return [
        pytest.param(CLUSTER_TYPE, bad_cluster, "cluster 'b'", False, id="cluster-sotw"),
        pytest.param(CLUSTER_TYPE, bad_cluster, "cluster 'b'", True, id="cluster-delta"),
        pytest.param(ROUTE_TYPE, bad_route, "missing )", False, id="route-sotw"),
        pytest.param(
            LISTENER_TYPE, bad_listener, "malformed IP address", False, id="listener-sotw"
        ),
    ]


@pytest.mark.parametrize(("type_url", "bad", "message", "delta"), _nack_cases())
def test_rejected_resource_is_sent_once_and_proxy_keeps_last_good_config(
    xds, upstreams, envoys, type_url, bad, message, delta
):
    port = free_port()
    ports = {"a": [upstreams["a"].port], "b": [upstreams["b"].port]}

    def config(replace: Any = None, a_ports: list[int] | None = None) -> Snapshot:
        resources = {
            CLUSTER_TYPE: [builders.eds_cluster("a"), builders.eds_cluster("b")],
            ENDPOINT_TYPE: [
                builders.load_assignment("a", a_ports or ports["a"]),
                builders.load_assignment("b", ports["b"]),
            ],
            LISTENER_TYPE: [builders.http_listener("ingress", port, "ingress-routes")],
            ROUTE_TYPE: [builders.weighted_routes("ingress-routes", {"a": 50, "b": 50})],
        }
        if replace is not None:
            kept = [m for m in resources[type_url] if m.name != replace.name]
            resources[type_url] = [*kept, replace]
        return Snapshot.from_messages(resources)

    xds.set_snapshot("edge", config())
    envoy = start(envoys, xds.envoy("edge-1", "edge", delta=delta))
    good_clusters = envoy.dynamic_names("clusters")
    good_listeners = envoy.dynamic_names("listeners")

    with Traffic(port, connections=2) as traffic:
        xds.set_snapshot("edge", config(bad), check=False)
        envoy.wait_for(
            lambda: xds.streams("edge-1")[0].types[type_url].state == "nacked", 3, "a NACK"
        )
        status = xds.streams("edge-1")[0].types[type_url]
        assert message in status.nack_message
        assert status.nack_version == status.sent_version
        assert status.acked_version != status.sent_version
        rejected = status.sent_version

        # Another change elsewhere (a second endpoint for a) must not resend the rejected one.
        xds.set_snapshot(
            "edge", config(bad, a_ports=[upstreams["a"].port, upstreams["c"].port]), check=False
        )
        envoy.wait_for(
            lambda: xds.streams("edge-1")[0].types[ENDPOINT_TYPE].state == "synced", 3, "EDS"
        )
        time.sleep(0.2)
        assert xds.log.sends_per_version("edge-1", type_url)[rejected] == 1
        assert xds.streams("edge-1")[0].types[type_url].state == "nacked"

        # The proxy still runs its last good config: same names, traffic to both backends.
        assert envoy.dynamic_names("clusters") == good_clusters
        assert envoy.dynamic_names("listeners") == good_listeners
        served = traffic.bodies()
        time.sleep(0.2)
        later = traffic.bodies()
        assert later["b"] > served["b"]
        assert later["a"] + later["c"] > served["a"] + served["c"]

    assert traffic.failures() == []

    # A corrected snapshot is sent and accepted; the NACK stays on record.
    xds.set_snapshot("edge", config())
    envoy.wait_for(lambda: xds.synced("edge-1"), 3, "recovery")
    status = xds.streams("edge-1")[0].types[type_url]
    assert status.nack_version == rejected
    assert status.nacks == 1
    assert xds.log.sends_per_version("edge-1", type_url)[rejected] == 1


def test_node_groups_get_only_their_own_listeners(xds, upstreams, envoys):
    edge_port, internal_port = free_port(), free_port()
    xds.set_snapshot(
        "edge",
        builders.snapshot(
            backends={"a": [upstreams["a"].port]},
            weights={"a": 100},
            listener_port=edge_port,
            listener="edge-in",
            route="edge-routes",
        ),
    )
    xds.set_snapshot(
        "internal",
        builders.snapshot(
            backends={"b": [upstreams["b"].port]},
            weights={"b": 100},
            listener_port=internal_port,
            listener="internal-in",
            route="internal-routes",
        ),
    )
    edge = start(envoys, xds.envoy("edge-1", "edge"))
    internal = start(envoys, xds.envoy("internal-1", "internal", delta=True))
    edge_two = start(envoys, xds.envoy("edge-2", "edge"))

    for envoy, listener, cluster in (
        (edge, "edge-in", "a"),
        (edge_two, "edge-in", "a"),
        (internal, "internal-in", "b"),
    ):
        assert envoy.dynamic_names("listeners") == {listener}
        assert envoy.dynamic_names("clusters") == {cluster}
    assert {s.node_id: s.group for s in xds.streams()} == {
        "edge-1": "edge",
        "edge-2": "edge",
        "internal-1": "internal",
    }
    assert get(edge_port) == (200, "a")
    assert get(internal_port) == (200, "b")


@pytest.mark.parametrize("delta", MODES)
def test_restarted_proxy_gets_current_state_at_once(xds, upstreams, envoys, delta):
    port = free_port()

    def config(version: str) -> Snapshot:
        return builders.snapshot(
            backends={"a": [upstreams["a"].port]},
            weights={"a": 100},
            listener_port=port,
            header=("x-config", version),
        )

    xds.set_snapshot("edge", config("v1"))
    first = start(envoys, xds.envoy("edge-1", "edge", delta=delta))
    first.wait_for(lambda: xds.synced("edge-1"), 3, "v1 acknowledged")
    bootstrap = first.bootstrap

    first.kill()
    wait_until(lambda: not xds.streams("edge-1"), 3, "stream gone")
    assert [e.kind for e in xds.log.events if e.kind.endswith("connect")] == [
        "connect",
        "disconnect",
    ]
    xds.set_snapshot("edge", config("v2"))

    started_at = time.monotonic()
    second = start(envoys, EnvoyProcess(bootstrap))
    # LIVE means the initial CDS and LDS answers arrived; they must already be v2.
    assert route_header(second) == "v2"
    assert time.monotonic() - started_at < 2.0
    assert get(port) == (200, "a")
    second.wait_for(lambda: xds.synced("edge-1"), 2, "v2 acknowledged")
    assert len(xds.streams("edge-1")) == 1


def test_delta_reconnect_does_not_resend_what_the_proxy_has(xds, upstreams, envoys):
    port = free_port()
    xds.set_snapshot("edge", a_and_b(upstreams, port))
    envoy = start(envoys, xds.envoy("edge-1", "edge", delta=True))
    envoy.wait_for(lambda: xds.synced("edge-1"), 3, "synced")

    # Restart the control plane on the same port; Envoy reconnects with
    # initial_resource_versions for everything it holds.
    xds.run(xds.server.stop(0))
    envoy.wait_for(lambda: not xds.streams(), 3, "stream closed")
    before = len(xds.log.events)
    xds.run(xds.server.start())
    envoy.wait_for(lambda: xds.synced("edge-1"), 10, "reconnected and synced")

    resent = [e for e in xds.log.events[before:] if e.kind == "send"]
    assert {e.type_url for e in resent} == set(PUSH_ORDER)
    assert all(e.detail == "0" for e in resent), resent
    assert {get(port)[1] for _ in range(30)} == {"a", "b"}
