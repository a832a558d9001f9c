"""The ADS protocol, message by message, with a scripted client in place of Envoy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from breakwater.controlplane.xds.cache import SnapshotCache
from breakwater.controlplane.xds.options import XdsServerOptions
from breakwater.controlplane.xds.resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    Snapshot,
    type_url_of,
)
from breakwater.controlplane.xds.server import XdsServer
from breakwater.controlplane.xds.status import (
    StreamRegistry,
    StreamStatus,
    TypeStatus,
    XdsObserver,
)
from breakwater.devtools.ports import LOOPBACK
from tests.controlplane import builders
from tests.controlplane.harness import EventLog
from tests.support.ads import AdsClient, names_of

PORTS = {"a": [10001], "b": [10002], "c": [10003]}


def config(
    backends: str = "ab", weights: dict[str, int] | None = None, **kwargs: object
) -> Snapshot:
    chosen = {name: PORTS[name] for name in backends}
    return builders.snapshot(
        backends=chosen,
        weights=weights or dict.fromkeys(chosen, 1),
        listener_port=10080,
        **kwargs,  # type: ignore[arg-type]
    )


class Server:
    def __init__(self, options: XdsServerOptions | None = None) -> None:
        self.cache = SnapshotCache()
        self.log = EventLog()
        self.xds = XdsServer(self.cache, registry=StreamRegistry([self.log]), options=options)

    @property
    def registry(self) -> StreamRegistry:
        return self.xds.registry

    def client(
        self, node_id: str = "proxy-1", cluster: str = "edge", *, delta: bool = False
    ) -> AdsClient:
        return AdsClient(self.xds.port, node_id, cluster, delta=delta)

    def type_status(self, type_url: str, node_id: str = "proxy-1") -> TypeStatus:
        (stream,) = self.registry.by_node(node_id)
        return stream.types[type_url]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    instance = Server()
    await instance.xds.start()
    yield instance
    await instance.xds.stop(0)


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait for the server to reach a state (an ACK is processed, a stream is gone)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("server never reached the expected state")
        await asyncio.sleep(0.01)


def synced(server: Server, node_id: str = "proxy-1") -> Callable[[], bool]:
    def check() -> bool:
        streams = server.registry.by_node(node_id)
        return len(streams) == 1 and streams[0].synced

    return check


async def sync_all(server: Server, client: AdsClient) -> dict[str, object]:
    """Play Envoy's start-up: CDS, EDS, LDS, RDS, each answered and ACKed."""
    got: dict[str, object] = {}
    await client.request(CLUSTER_TYPE)
    got[CLUSTER_TYPE] = cds = await client.recv()
    await client.ack(cds)
    await client.request(ENDPOINT_TYPE, sorted(names_of(cds)))
    got[ENDPOINT_TYPE] = eds = await client.recv()
    await client.ack(eds, sorted(names_of(cds)))
    await client.request(LISTENER_TYPE)
    got[LISTENER_TYPE] = lds = await client.recv()
    await client.ack(lds)
    await client.request(ROUTE_TYPE, ["ingress-routes"])
    got[ROUTE_TYPE] = rds = await client.recv()
    await client.ack(rds, ["ingress-routes"])
    await until(lambda: all(s.synced for s in server.registry.streams()))
    return got


# -- State of the World -----------------------------------------------------


async def test_first_request_must_identify_the_node(server):
    server.cache.set_snapshot("edge", config())
    async with grpc.aio.insecure_channel(f"{LOOPBACK}:{server.xds.port}") as channel:
        call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
        await call.write(discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert server.registry.streams() == []


async def test_wildcard_cds_answer_and_ack_are_recorded(server):
    snapshot = config()
    server.cache.set_snapshot("edge", snapshot)
    async with server.client() as client:
        await client.request(CLUSTER_TYPE)
        response = await client.recv()
        assert names_of(response) == {"a", "b"}
        assert response.version_info == snapshot.type_version(CLUSTER_TYPE)
        assert response.nonce
        status = server.type_status(CLUSTER_TYPE)
        assert (status.state, status.sent_version, status.acked_version) == (
            "stale",
            response.version_info,
            "",
        )

        await client.ack(response)
        await until(lambda: server.type_status(CLUSTER_TYPE).acked_version != "")
        status = server.type_status(CLUSTER_TYPE)
        assert status.state == "synced"
        assert status.acked_version == status.sent_version == response.version_info
        assert status.sends == 1
        assert server.log.of("ack", "proxy-1", CLUSTER_TYPE)[0].version == response.version_info
        (stream,) = server.registry.streams()
        assert (stream.node_id, stream.node_cluster, stream.group, stream.mode) == (
            "proxy-1",
            "edge",
            "edge",
            "sotw",
        )


async def test_eds_answers_only_the_requested_names(server):
    server.cache.set_snapshot("edge", config("abc"))
    async with server.client() as client:
        await client.request(ENDPOINT_TYPE, ["a", "c", "missing"])
        response = await client.recv()
        assert names_of(response) == {"a", "c"}
        await client.ack(response, ["a", "c", "missing"])
        await client.silence()
        # Changing an assignment nobody asked for wakes the stream but sends nothing.
        changed = dict(PORTS, b=[20002])
        server.cache.set_snapshot(
            "edge", builders.snapshot(backends=changed, weights={"a": 1}, listener_port=10080)
        )
        await client.silence()


async def test_stale_nonce_is_ignored(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client() as client:
        await client.request(CLUSTER_TYPE)
        first = await client.recv()
        server.cache.set_snapshot("edge", config("abc"))
        second = await client.recv()
        assert names_of(second) == {"a", "b", "c"}
        # The ACK of the superseded response, even naming other resources, changes nothing.
        await client.request(CLUSTER_TYPE, ["a"], nonce=first.nonce, version=first.version_info)
        await client.silence()
        assert server.type_status(CLUSTER_TYPE).acked_version == ""
        await client.ack(second)
        await until(synced(server))
        assert server.type_status(CLUSTER_TYPE).acked_version == second.version_info


async def test_nacked_version_is_never_resent(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client() as client:
        await client.request(CLUSTER_TYPE)
        good = await client.recv()
        await client.ack(good)
        await until(synced(server))  # an ACK arriving after the next push would be stale
        server.cache.set_snapshot("edge", config("abc"))
        bad = await client.recv()
        await client.nack(bad, "cluster c: broken", version=good.version_info)
        await until(lambda: server.type_status(CLUSTER_TYPE).nacks > 0)
        status = server.type_status(CLUSTER_TYPE)
        assert status.state == "nacked"
        assert (status.nack_version, status.nack_message) == (bad.version_info, "cluster c: broken")
        assert status.acked_version == good.version_info
        assert status.nack_at is not None and status.nacks == 1
        assert server.log.of("nack")[0].detail == "cluster c: broken"

        # Repeating the NACK, or a snapshot change in another type, sends nothing.
        await client.nack(bad, "cluster c: broken", version=good.version_info)
        await client.silence()
        server.cache.set_snapshot("edge", config("abc", header=("x", "1")))
        await client.silence()
        assert server.type_status(CLUSTER_TYPE).nacks == 1

        # A different version is sent, and its ACK clears the NACK state.
        server.cache.set_snapshot("edge", config("ac"))
        fixed = await client.recv()
        assert names_of(fixed) == {"a", "c"}
        await client.ack(fixed)
        await until(synced(server))
        status = server.type_status(CLUSTER_TYPE)
        assert status.state == "synced"
        assert status.nack_version == bad.version_info
        assert server.log.sends_per_version("proxy-1", CLUSTER_TYPE)[bad.version_info] == 1


async def test_identical_snapshot_wakes_nobody(server):
    assert server.cache.set_snapshot("edge", config())
    async with server.client() as client:
        await sync_all(server, client)
        assert not server.cache.set_snapshot("edge", config())
        await client.silence()
        # Only the routes changed: only RDS goes out.
        server.cache.set_snapshot("edge", config(weights={"a": 2, "b": 1}))
        response = await client.recv()
        assert response.type_url == ROUTE_TYPE
        await client.silence()


async def test_removed_cluster_outlives_the_routes_that_used_it(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client() as client:
        await sync_all(server, client)
        server.cache.set_snapshot("edge", config("a"))
        # CDS and EDS still include b (the proxy's routes point at it): nothing
        # changed for them, so the routes go first.
        routes = await client.recv()
        assert routes.type_url == ROUTE_TYPE
        await client.silence()
        cds = server.type_status(CLUSTER_TYPE)
        assert cds.state == "stale" and cds.target_version != cds.sent_version

        await client.ack(routes, ["ingress-routes"])
        clusters = await client.recv()
        assert clusters.type_url == CLUSTER_TYPE
        assert names_of(clusters) == {"a"}
        endpoints = await client.recv()
        assert endpoints.type_url == ENDPOINT_TYPE and names_of(endpoints) == {"a"}
        await client.ack(clusters)
        await client.ack(endpoints, ["a"])
        await until(synced(server))
        assert set(server.registry.streams()[0].types) == {
            CLUSTER_TYPE,
            ENDPOINT_TYPE,
            LISTENER_TYPE,
            ROUTE_TYPE,
        }


def server_nonce(server: Server, type_url: str) -> str:
    return server.type_status(type_url).sent_nonce


async def test_routes_to_a_new_cluster_wait_for_cluster_and_endpoints(server):
    server.cache.set_snapshot("edge", config("a"))
    async with server.client() as client:
        await sync_all(server, client)
        server.cache.set_snapshot("edge", config("ac"))
        clusters = await client.recv()
        assert clusters.type_url == CLUSTER_TYPE and names_of(clusters) == {"a", "c"}
        await client.silence()  # routes to c are held back
        assert server.type_status(ROUTE_TYPE).state == "stale"

        await client.ack(clusters)
        await client.silence()  # c's endpoints are not on the proxy yet
        await client.request(ENDPOINT_TYPE, ["a", "c"], nonce=server_nonce(server, ENDPOINT_TYPE))
        endpoints = await client.recv()
        assert names_of(endpoints) == {"a", "c"}
        await client.silence()
        await client.ack(endpoints, ["a", "c"])
        routes = await client.recv()
        assert routes.type_url == ROUTE_TYPE


async def test_held_routes_go_out_after_the_ordering_timeout():
    server = Server(XdsServerOptions(ordering_timeout=0.3))
    await server.xds.start()
    try:
        server.cache.set_snapshot("edge", config("a"))
        async with server.client() as client:
            await sync_all(server, client)
            server.cache.set_snapshot("edge", config("ac"))
            clusters = await client.recv()
            await client.nack(clusters, "cluster c: rejected")
            held_at = asyncio.get_running_loop().time()
            await client.silence(0.2)
            routes = await client.recv(1.0)
            assert routes.type_url == ROUTE_TYPE
            assert asyncio.get_running_loop().time() - held_at >= 0.28
    finally:
        await server.xds.stop(0)


async def test_reconnecting_proxy_is_answered_at_once(server):
    server.cache.set_snapshot("edge", config())
    async with server.client() as client:
        got = await sync_all(server, client)
    # A new stream, carrying what the proxy had, gets the current state anyway.
    async with server.client() as client:
        cds = got[CLUSTER_TYPE]
        await client.request(CLUSTER_TYPE, nonce=cds.nonce, version=cds.version_info)  # type: ignore[attr-defined]
        response = await client.recv()
        assert response.version_info == cds.version_info  # type: ignore[attr-defined]
    await until(lambda: len(server.registry) == 0)
    assert [e.kind for e in server.log.events if "connect" in e.kind] == [
        "connect",
        "disconnect",
        "connect",
        "disconnect",
    ]


async def test_what_depends_on_who_is_connected_is_worked_out_when_a_proxy_comes_or_goes(
    server,
):
    server.cache.set_snapshot("edge", config())
    computed: list[list[str]] = []

    def node_ids(streams: list[StreamStatus]) -> list[str]:
        computed.append(sorted(s.node_id for s in streams))
        return computed[-1]

    connected = server.registry.per_membership(node_ids)
    assert connected() == []
    async with server.client() as client:
        await sync_all(server, client)
        assert connected() == ["proxy-1"]
        async with server.client("proxy-2") as second:
            await second.request(CLUSTER_TYPE)
            await second.ack(await second.recv())
            assert connected() == ["proxy-1", "proxy-2"]
            assert connected() == ["proxy-1", "proxy-2"]
        await until(lambda: len(server.registry) == 1)
        assert connected() == ["proxy-1"]
    # ACKs and sends change no membership: worked out once per arrival and departure.
    assert computed == [[], ["proxy-1"], ["proxy-1", "proxy-2"], ["proxy-1"]]


async def test_what_depends_on_who_is_connected_sees_each_proxy_as_it_connected(server):
    """Its node and group, and no sync state: that changes without anyone coming or going."""
    server.cache.set_snapshot("edge", config())
    seen: list[tuple[str, str, object, dict[str, TypeStatus]]] = []

    def identities(streams: list[StreamStatus]) -> int:
        seen[:] = [(s.node_id, s.node_cluster, s.group, dict(s.types)) for s in streams]
        return len(streams)

    connected = server.registry.per_membership(identities)
    async with server.client("p1") as first, server.client("p2", "internal") as second:
        await sync_all(server, first)
        await second.request(CLUSTER_TYPE)
        await until(lambda: len(server.registry.streams()) == 2)
        assert connected() == 2
        assert sorted(seen, key=lambda s: s[0]) == [
            ("p1", "edge", "edge", {}),
            ("p2", "internal", "internal", {}),
        ]
        second.cancel()
        await until(lambda: len(server.registry) == 1)
        assert connected() == 1
        assert seen == [("p1", "edge", "edge", {})]


async def test_stream_waits_for_its_groups_first_snapshot(server):
    async with server.client(cluster="late") as client:
        await client.request(CLUSTER_TYPE)
        await client.silence()
        assert server.type_status(CLUSTER_TYPE).state == "waiting"
        server.cache.set_snapshot("other", config())
        await client.silence()
        server.cache.set_snapshot("late", config("c"))
        assert names_of(await client.recv()) == {"c"}


async def test_groups_are_isolated(server):
    server.cache.set_snapshot("edge", config("a"))
    server.cache.set_snapshot("internal", config("b"))
    async with server.client("e", "edge") as edge, server.client("i", "internal") as internal:
        await edge.request(CLUSTER_TYPE)
        await internal.request(CLUSTER_TYPE)
        assert names_of(await edge.recv()) == {"a"}
        assert names_of(await internal.recv()) == {"b"}
        server.cache.set_snapshot("internal", config("bc"))
        assert names_of(await internal.recv()) == {"b", "c"}
        await edge.silence()


async def test_proxies_of_a_group_in_different_states_each_get_what_they_are_due(server):
    """Streams in one state share one evaluation of a snapshot: one that ACKed less than the
    other must still be answered from its own state, with its own nonces."""
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client("p1") as first, server.client("p2") as second:
        await sync_all(server, first)
        await sync_all(server, second)
        server.cache.set_snapshot("edge", config("a"))
        routes = {name: await client.recv() for name, client in (("p1", first), ("p2", second))}
        assert {r.type_url for r in routes.values()} == {ROUTE_TYPE}

        # Only the first ACKs the routes that leave b: b leaves it, and stays on the second.
        await first.ack(routes["p1"], ["ingress-routes"])
        clusters, endpoints = await first.recv(), await first.recv()
        assert (clusters.type_url, names_of(clusters)) == (CLUSTER_TYPE, {"a"})
        assert (endpoints.type_url, names_of(endpoints)) == (ENDPOINT_TYPE, {"a"})
        await second.silence()

        # Cluster a changes and nothing else: each is sent the clusters its own routes need.
        server.cache.set_snapshot("edge", config("a", connect_timeouts_ms={"a": 900}))
        changed = {name: await client.recv() for name, client in (("p1", first), ("p2", second))}
        assert {r.type_url for r in changed.values()} == {CLUSTER_TYPE}
        assert names_of(changed["p1"]) == {"a"}
        assert names_of(changed["p2"]) == {"a", "b"}
        await first.silence()
        await second.silence()
        nonces = [routes["p1"].nonce, clusters.nonce, endpoints.nonce, changed["p1"].nonce]
        assert len(set(nonces)) == len(nonces)

        # Once the second ACKs the routes, b leaves it too, and both end synced.
        await second.ack(routes["p2"], ["ingress-routes"])
        clusters_2, endpoints_2 = await second.recv(), await second.recv()
        assert (clusters_2.type_url, endpoints_2.type_url) == (CLUSTER_TYPE, ENDPOINT_TYPE)
        assert names_of(clusters_2) == names_of(endpoints_2) == {"a"}
        await second.ack(clusters_2)
        await second.ack(endpoints_2, ["a"])
        await first.ack(changed["p1"])
        await first.ack(endpoints, ["a"])
        await until(synced(server, "p1"))
        await until(synced(server, "p2"))


async def test_a_type_too_many_ends_the_stream_when_asked_for_one_at_a_time(server):
    """Each request after an answer is read while the stream is idle, and handled there."""
    server.cache.set_snapshot("edge", config())
    async with server.client() as client:
        for index in range(64):
            await client.request(f"type.googleapis.com/test.Unknown{index}")
            assert (await client.recv()).type_url == f"type.googleapis.com/test.Unknown{index}"
        await client.request("type.googleapis.com/test.Unknown64")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.recv()
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "at most 64 resource types" in str(raised.value.details())


async def test_types_beyond_the_four_are_served_after_them(server):
    secret = secret_pb2.Secret(name="tls")
    snapshot = Snapshot.from_messages(
        {type_url_of(secret): [secret], CLUSTER_TYPE: [builders.eds_cluster("a")]}
    )
    server.cache.set_snapshot("edge", snapshot, check=False)
    async with server.client() as client:
        await client.request(type_url_of(secret), ["tls"])
        await client.request(CLUSTER_TYPE)
        first, second = await client.recv(), await client.recv()
        assert {first.type_url, second.type_url} == {type_url_of(secret), CLUSTER_TYPE}
        assert names_of(first if first.type_url != CLUSTER_TYPE else second) == {"tls"}


async def test_a_failing_observer_does_not_break_the_stream(server):
    class Broken(XdsObserver):
        def on_send(self, node, type_url, version, resources):
            raise RuntimeError("boom")

    server.registry.add_observer(Broken())
    server.cache.set_snapshot("edge", config())
    async with server.client() as client:
        await client.request(CLUSTER_TYPE)
        assert names_of(await client.recv()) == {"a", "b"}


# -- Delta ------------------------------------------------------------------


async def test_delta_sends_only_what_the_proxy_lacks(server):
    snapshot = config("abc")
    server.cache.set_snapshot("edge", snapshot)
    clusters = snapshot.resources(CLUSTER_TYPE)
    async with server.client(delta=True) as client:
        await client.delta_request(
            CLUSTER_TYPE,
            initial={"a": clusters["a"].version, "b": "old", "gone": "whatever"},
        )
        response = await client.recv()
        assert {r.name: r.version for r in response.resources} == {
            "b": clusters["b"].version,
            "c": clusters["c"].version,
        }
        assert list(response.removed_resources) == ["gone"]
        assert response.system_version_info == snapshot.type_version(CLUSTER_TYPE)
        await client.delta_ack(response)
        await until(synced(server))
        status = server.type_status(CLUSTER_TYPE)
        assert status.state == "synced" and status.resources == 3


async def test_delta_answers_a_new_subscription_even_with_nothing_to_send(server):
    snapshot = config("a")
    server.cache.set_snapshot("edge", snapshot)
    versions = {n: r.version for n, r in snapshot.resources(CLUSTER_TYPE).items()}
    async with server.client(delta=True) as client:
        await client.delta_request(CLUSTER_TYPE, initial=versions)
        response = await client.recv()
        assert list(response.resources) == [] and list(response.removed_resources) == []
        await client.silence()


async def test_delta_subscribe_and_unsubscribe(server):
    server.cache.set_snapshot("edge", config("abc"))
    async with server.client(delta=True) as client:
        await client.delta_request(ENDPOINT_TYPE, ["a", "nope"])
        first = await client.recv()
        assert names_of(first) == {"a"}
        assert list(first.removed_resources) == ["nope"]  # does not exist, said once
        await client.delta_request(ENDPOINT_TYPE, ["b"], nonce=first.nonce)
        second = await client.recv()
        assert names_of(second) == {"b"} and list(second.removed_resources) == []
        await client.delta_request(ENDPOINT_TYPE, unsubscribe=["a"], nonce=second.nonce)
        await client.silence()
        # a changes: not subscribed any more, nothing sent; b changes: sent.
        server.cache.set_snapshot(
            "edge",
            builders.snapshot(
                backends={"a": [1], "b": PORTS["b"], "c": PORTS["c"]},
                weights={"a": 1},
                listener_port=10080,
            ),
        )
        await client.silence()
        server.cache.set_snapshot(
            "edge",
            builders.snapshot(
                backends={"a": [1], "b": [2], "c": PORTS["c"]},
                weights={"a": 1},
                listener_port=10080,
            ),
        )
        third = await client.recv()
        assert names_of(third) == {"b"}


async def test_delta_nack_is_recorded_and_not_resent(server):
    server.cache.set_snapshot("edge", config("a"))
    async with server.client(delta=True) as client:
        await client.delta_request(CLUSTER_TYPE)
        good = await client.recv()
        await client.delta_ack(good)
        await until(synced(server))
        server.cache.set_snapshot("edge", config("ab"))
        bad = await client.recv()
        assert names_of(bad) == {"b"}
        await client.delta_request(CLUSTER_TYPE, nonce=bad.nonce, error="cluster b: no")
        await client.silence()
        status = server.type_status(CLUSTER_TYPE)
        assert status.state == "nacked"
        assert (status.nack_version, status.nack_message) == (
            bad.system_version_info,
            "cluster b: no",
        )
        assert status.acked_version == good.system_version_info
        server.cache.set_snapshot("edge", config("ab", header=("x", "1")))
        await client.silence()
        server.cache.set_snapshot("edge", config("abc"))
        assert names_of(await client.recv()) == {"c"}


async def test_delta_removal_waits_for_the_routes(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client(delta=True) as client:
        await client.delta_request(CLUSTER_TYPE)
        cds = await client.recv()
        await client.delta_ack(cds)
        await client.delta_request(ENDPOINT_TYPE, ["a", "b"])
        eds = await client.recv()
        await client.delta_ack(eds)
        await client.delta_request(LISTENER_TYPE)
        await client.delta_ack(await client.recv())
        await client.delta_request(ROUTE_TYPE, ["ingress-routes"])
        await client.delta_ack(await client.recv())
        await until(synced(server))

        server.cache.set_snapshot("edge", config("a"))
        routes = await client.recv()
        assert routes.type_url == ROUTE_TYPE
        await client.silence()
        await client.delta_ack(routes)
        clusters = await client.recv()
        assert clusters.type_url == CLUSTER_TYPE
        assert list(clusters.removed_resources) == ["b"] and list(clusters.resources) == []
        endpoints = await client.recv()
        assert endpoints.type_url == ENDPOINT_TYPE
        assert list(endpoints.removed_resources) == ["b"]


# -- server -------------------------------------------------------------------


async def test_message_size_limit_applies():
    cache = SnapshotCache()
    xds = XdsServer(cache, options=XdsServerOptions(max_receive_message_length=512))
    await xds.start()
    try:
        async with AdsClient(xds.port) as client:
            await client.request(ENDPOINT_TYPE, ["x" * 1000])
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await client.recv()
            assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await xds.stop(0)


async def test_server_restarts_on_the_same_port():
    xds = XdsServer(SnapshotCache(), port=0)
    port = await xds.start()
    await xds.stop(0)
    assert await xds.start() == port
    await xds.stop(0)


# -- asking again -------------------------------------------------------------


async def test_sotw_request_repeating_an_acked_nonce_is_answered(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client() as client:
        got = await sync_all(server, client)
        eds: object = got[ENDPOINT_TYPE]
        # Envoy warming a changed cluster asks again with the version and nonce it holds.
        await client.ack(eds, ["a", "b"])
        again = await client.recv()
        assert again.type_url == ENDPOINT_TYPE
        assert again.version_info == eds.version_info  # type: ignore[attr-defined]
        assert again.nonce != eds.nonce  # type: ignore[attr-defined]
        assert names_of(again) == {"a", "b"}
        # Its ACK is an ACK: nothing more is sent.
        await client.ack(again, ["a", "b"])
        await client.silence()
        await until(synced(server))


async def test_sotw_new_names_are_answered_even_when_the_version_stays(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client() as client:
        await client.request(ENDPOINT_TYPE, ["a"])
        first = await client.recv()
        await client.ack(first, ["a"])
        await until(lambda: server.type_status(ENDPOINT_TYPE).acked_version != "")
        # A name the snapshot lacks leaves the selection, and so its version, as it was.
        await client.ack(first, ["a", "missing"])
        second = await client.recv()
        assert second.version_info == first.version_info
        assert names_of(second) == {"a"}


async def test_sotw_repeated_nack_is_not_answered(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client() as client:
        await client.request(CLUSTER_TYPE)
        bad = await client.recv()
        await client.nack(bad, "broken")
        await until(lambda: server.type_status(CLUSTER_TYPE).nacks == 1)
        await client.nack(bad, "broken")
        await client.silence()


async def test_delta_changed_cluster_is_followed_by_its_endpoints(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client(delta=True) as client:
        await client.delta_request(CLUSTER_TYPE)
        cds = await client.recv()
        await client.delta_ack(cds)
        await client.delta_request(ENDPOINT_TYPE, ["a", "b"])
        eds = await client.recv()
        await client.delta_ack(eds)
        await until(lambda: server.type_status(ENDPOINT_TYPE).acked_version != "")

        server.cache.set_snapshot("edge", config("ab", connect_timeouts_ms={"a": 900}))
        changed = await client.recv()
        assert (changed.type_url, names_of(changed)) == (CLUSTER_TYPE, {"a"})
        # Envoy does not subscribe again to endpoints it holds, but the new cluster
        # waits for them: they follow, unchanged.
        endpoints = await client.recv()
        assert (endpoints.type_url, names_of(endpoints)) == (ENDPOINT_TYPE, {"a"})
        await client.delta_ack(changed)
        await client.delta_ack(endpoints)
        await client.silence()


async def test_delta_subscribing_again_sends_again(server):
    server.cache.set_snapshot("edge", config("ab"))
    async with server.client(delta=True) as client:
        await client.delta_request(ENDPOINT_TYPE, ["a", "b"])
        first = await client.recv()
        await client.delta_request(ENDPOINT_TYPE, ["a"], nonce=first.nonce)
        again = await client.recv()
        assert names_of(again) == {"a"}
