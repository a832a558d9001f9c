"""Resources, versions, encoding and dependency tracking."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.clusters.aggregate.v3 import cluster_pb2 as aggregate_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from breakwater.controlplane.xds.resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
    Resource,
    Selection,
    Snapshot,
    encode_str_field,
    order_types,
    short_name,
)
from breakwater.translators.snapshot import translate
from tests.controlplane import builders
from tests.translators.support import policyset_from_text


def test_resource_is_named_versioned_and_packed_once():
    cluster = builders.eds_cluster("payments")
    resource = Resource.from_message(cluster)
    assert (resource.type_url, resource.name) == (CLUSTER_TYPE, "payments")
    packed = resource.unpack()
    assert packed.type_url == CLUSTER_TYPE
    decoded = cluster_pb2.Cluster()
    packed.Unpack(decoded)
    assert decoded == cluster
    assert Resource.from_message(builders.eds_cluster("payments")).version == resource.version
    slower = builders.eds_cluster("payments", connect_timeout_ms=900)
    assert Resource.from_message(slower).version != resource.version


def test_endpoint_assignments_are_named_by_cluster_name():
    resource = Resource.from_message(builders.load_assignment("payments", [8080]))
    assert (resource.type_url, resource.name) == (ENDPOINT_TYPE, "payments")


def test_nameless_resources_are_refused():
    with pytest.raises(ValueError, match="without a name"):
        Resource.from_message(cluster_pb2.Cluster())
    with pytest.raises(TypeError):
        Resource.from_message(any_pb2.Any())


def test_encoded_responses_decode_to_the_same_messages():
    # Enough endpoints to need multi-byte length prefixes.
    big = builders.load_assignment("big", list(range(1000, 3000)))
    resources = {
        r.name: r
        for r in (
            Resource.from_message(big),
            Resource.from_message(builders.load_assignment("s", [1])),
        )
    }
    selection = Selection(ENDPOINT_TYPE, resources)
    decoded = discovery_pb2.DiscoveryResponse.FromString(
        selection.sotw_body() + encode_str_field(5, "n1")
    )
    assert (decoded.version_info, decoded.type_url, decoded.nonce) == (
        selection.version,
        ENDPOINT_TYPE,
        "n1",
    )
    assert [a.SerializeToString(deterministic=True) for a in decoded.resources] == [
        resources["big"].any_bytes,
        resources["s"].any_bytes,
    ]

    delta = discovery_pb2.DeltaDiscoveryResponse.FromString(resources["big"].delta_entry)
    (entry,) = delta.resources
    assert (entry.name, entry.version) == ("big", resources["big"].version)
    assert entry.resource.SerializeToString(deterministic=True) == resources["big"].any_bytes


def test_snapshot_versions_follow_content_not_order():
    a, b = builders.eds_cluster("a"), builders.eds_cluster("b")
    first = Snapshot.from_messages({CLUSTER_TYPE: [a, b]})
    second = Snapshot.from_messages({CLUSTER_TYPE: [b, a]})
    assert first.version == second.version
    assert first.type_version(CLUSTER_TYPE) == second.type_version(CLUSTER_TYPE)
    third = Snapshot.from_messages({CLUSTER_TYPE: [a]})
    assert third.type_version(CLUSTER_TYPE) != first.type_version(CLUSTER_TYPE)
    assert first.type_version(ROUTE_TYPE) == Snapshot.empty().type_version(ROUTE_TYPE)


def test_snapshot_refuses_duplicates_and_misfiled_resources():
    with pytest.raises(ValueError, match="duplicate cds resource 'a'"):
        Snapshot.from_messages(
            {CLUSTER_TYPE: [builders.eds_cluster("a"), builders.eds_cluster("a")]}
        )
    with pytest.raises(ValueError, match="listed under"):
        Snapshot.from_messages({LISTENER_TYPE: [builders.eds_cluster("a")]})


def test_selections_are_shared_between_equal_subscriptions():
    snapshot = builders.snapshot(
        backends={"a": [1], "b": [2], "c": [3]}, weights={"a": 1}, listener_port=10
    )
    everything = snapshot.select(CLUSTER_TYPE, None)
    assert everything is snapshot.select(CLUSTER_TYPE, None)
    assert everything.version == snapshot.type_version(CLUSTER_TYPE)
    some = snapshot.select(ENDPOINT_TYPE, frozenset({"a", "c", "zz"}))
    assert some is snapshot.select(ENDPOINT_TYPE, frozenset({"c", "a", "zz"}))
    assert set(some.resources) == {"a", "c"}
    assert some.sotw_body() is some.sotw_body()


def test_route_references_cover_plain_weighted_and_mirrored_clusters():
    routes = builders.weighted_routes("r", {"a": 1, "b": 1})
    extra = routes.virtual_hosts[0].routes.add()
    extra.match.prefix = "/x"
    extra.route.cluster = "c"
    extra.route.request_mirror_policies.add(cluster="shadow")
    redirect = routes.virtual_hosts[0].routes.add()
    redirect.match.prefix = "/old"
    redirect.redirect.path_redirect = "/new"
    resource = Resource.from_message(routes)
    assert set(resource.refs_of(CLUSTER_TYPE)) == {"a", "b", "c", "shadow"}


def test_cluster_references_endpoints_and_aggregate_members():
    assert set(Resource.from_message(builders.eds_cluster("a")).refs) == {(ENDPOINT_TYPE, "a")}
    named = builders.eds_cluster("a")
    named.eds_cluster_config.service_name = "a-endpoints"
    assert set(Resource.from_message(named).refs) == {(ENDPOINT_TYPE, "a-endpoints")}
    static = cluster_pb2.Cluster(name="s", type=cluster_pb2.Cluster.STATIC)
    assert Resource.from_message(static).refs == frozenset()

    aggregate = cluster_pb2.Cluster(name="failover")
    aggregate.cluster_type.name = "envoy.clusters.aggregate"
    aggregate.cluster_type.typed_config.Pack(aggregate_pb2.ClusterConfig(clusters=["a", "b"]))
    assert set(Resource.from_message(aggregate).refs) == {(CLUSTER_TYPE, "a"), (CLUSTER_TYPE, "b")}


def test_listener_references_rds_and_tcp_proxy_clusters():
    http = builders.http_listener("in", 8080, "in-routes")
    assert set(Resource.from_message(http).refs) == {(ROUTE_TYPE, "in-routes")}

    tcp = any_pb2.Any()
    tcp.Pack(tcp_proxy_pb2.TcpProxy(stat_prefix="t", cluster="db"))
    listener = listener_pb2.Listener(
        name="tcp",
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=5432)
        ),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[listener_components_pb2.Filter(name="tcp", typed_config=tcp)]
            )
        ],
    )
    assert set(Resource.from_message(listener).refs) == {(CLUSTER_TYPE, "db")}


EXPORTERS = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: traces}
spec: {protocol: grpc, endpoints: [{address: 10.0.9.1, port: 4317}]}
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: logs}
spec: {protocol: grpc, endpoints: [{address: 10.0.9.2, port: 4317}]}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec: {port: 10000}
---
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {name: fleet}
spec:
  tracing: {openTelemetry: {service: traces}}
  accessLog: {to: [stdout, {openTelemetry: {service: logs}}]}
"""


def test_a_listener_references_the_collectors_it_exports_to() -> None:
    """A tracer or an OTLP access log exporting to a cluster the proxy lacks loses what it sends."""
    policyset = policyset_from_text(EXPORTERS)
    (edge,) = translate(policyset, {"edge"})[LISTENER_TYPE]
    assert set(Resource.from_message(edge).refs) == {
        (ROUTE_TYPE, "edge"),
        (CLUSTER_TYPE, "traces"),
        (CLUSTER_TYPE, "logs"),
    }


def test_undecodable_nested_config_yields_no_references():
    listener = builders.http_listener("in", 8080, "in-routes")
    listener.filter_chains[0].filters[0].typed_config.value = b"\xff\xff\xff"
    assert Resource.from_message(listener).refs == frozenset()


def test_problems_name_dangling_references():
    assert (
        builders.snapshot(backends={"a": [1]}, weights={"a": 1}, listener_port=1).problems() == []
    )
    route = route_components_pb2.Route(
        match=route_components_pb2.RouteMatch(prefix="/"),
        route=route_components_pb2.RouteAction(cluster="ghost"),
    )
    routes = builders.weighted_routes("r", {"a": 1})
    routes.virtual_hosts[0].routes.append(route)
    snapshot = Snapshot.from_messages(
        {
            CLUSTER_TYPE: [builders.eds_cluster("a"), builders.eds_cluster("b")],
            ENDPOINT_TYPE: [builders.load_assignment("a", [1])],
            LISTENER_TYPE: [builders.http_listener("in", 1, "missing-routes")],
            ROUTE_TYPE: [routes],
        }
    )
    assert snapshot.problems() == [
        "cds 'b' references eds 'b', which is not in the snapshot",
        "lds 'in' references rds 'missing-routes', which is not in the snapshot",
        "rds 'r' references cds 'ghost', which is not in the snapshot",
    ]


def test_push_order_and_names():
    other = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
    assert order_types([other, ROUTE_TYPE, LISTENER_TYPE, ENDPOINT_TYPE, CLUSTER_TYPE]) == [
        *PUSH_ORDER,
        other,
    ]
    assert [short_name(t) for t in PUSH_ORDER] == ["cds", "eds", "lds", "rds"]
    assert short_name(other) == "Secret"
