"""A resource keeps one encoded form; the others, sliced from it, are protobuf's own bytes.

Each form is compared with what protobuf serializes for the same message (the `Any`, a
`DiscoveryResponse` and a `DeltaDiscoveryResponse` holding it), for resources that name
nothing, one other and several, with names that are not ASCII and lengths that take
several bytes; and a resource made from any one of its forms is the same resource.
"""

from __future__ import annotations

import copy
import pickle

import pytest
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message

from breakwater.controlplane.xds.resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    ROUTE_TYPE,
    Resource,
    Selection,
    encode_str_field,
)
from tests.controlplane import builders


def _messages() -> list[Message]:
    big = builders.load_assignment("big", list(range(1000, 3000)))
    return [
        builders.load_assignment("s", [1]),  # names nothing
        big,  # lengths of three bytes
        endpoint_pb2.ClusterLoadAssignment(cluster_name="héllo-ünïcode"),  # an empty value
        builders.eds_cluster("api"),  # names its endpoint set
        builders.weighted_routes("edge", {"a": 90, "b": 10, "c": 0}),  # names several
    ]


@pytest.mark.parametrize("message", _messages(), ids=lambda m: type(m).__name__)
def test_every_form_is_protobufs_serialization(message: Message) -> None:
    resource = Resource.from_message(message)
    packed = any_pb2.Any()
    packed.Pack(message)
    any_bytes = packed.SerializeToString(deterministic=True)
    sotw = discovery_pb2.DiscoveryResponse(resources=[packed])
    delta = discovery_pb2.DeltaDiscoveryResponse(
        resources=[
            discovery_pb2.Resource(name=resource.name, version=resource.version, resource=packed)
        ]
    )
    assert resource.any_bytes == any_bytes
    assert resource.sotw_entry == sotw.SerializeToString(deterministic=True)
    assert bytes(resource.sotw_view()) == resource.sotw_entry
    assert resource.delta_entry == delta.SerializeToString(deterministic=True)
    assert resource.unpack() == packed


@pytest.mark.parametrize("message", _messages(), ids=lambda m: type(m).__name__)
def test_a_resource_made_from_any_of_its_forms_is_the_same(message: Message) -> None:
    resource = Resource.from_message(message)
    head = (resource.type_url, resource.name, resource.version)
    made = [
        Resource(*head, resource.any_bytes, resource.refs),
        Resource(*head, refs=resource.refs, sotw_entry=resource.sotw_entry),
        Resource(*head, refs=resource.refs, delta_entry=resource.delta_entry),
        pickle.loads(pickle.dumps(resource)),
        copy.deepcopy(resource),
    ]
    for other in made:
        assert other == resource
        assert hash(other) == hash(resource)
        assert (other.any_bytes, other.sotw_entry, other.delta_entry) == (
            resource.any_bytes,
            resource.sotw_entry,
            resource.delta_entry,
        )
        assert other.refs == resource.refs
        for type_url in (CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE):
            assert other.refs_of(type_url) == resource.refs_of(type_url)


def test_references_of_none_one_and_several() -> None:
    endpoints = Resource.from_message(builders.load_assignment("s", [1]))
    cluster = Resource.from_message(builders.eds_cluster("api"))
    routes = Resource.from_message(builders.weighted_routes("edge", {"b": 10, "a": 90}))
    assert endpoints.refs == frozenset() and endpoints.refs_of(CLUSTER_TYPE) == ()
    assert cluster.refs == frozenset({(ENDPOINT_TYPE, "api")})
    assert (cluster.refs_of(ENDPOINT_TYPE), cluster.refs_of(CLUSTER_TYPE)) == (("api",), ())
    assert routes.refs == frozenset({(CLUSTER_TYPE, "a"), (CLUSTER_TYPE, "b")})
    assert routes.refs_of(CLUSTER_TYPE) == ("a", "b")
    assert routes.refs is routes.refs  # a set of several is kept, so it is one object


def test_a_resource_cannot_be_changed() -> None:
    resource = Resource.from_message(builders.eds_cluster("api"))
    with pytest.raises(AttributeError):
        resource.version = "other"  # type: ignore[misc]


def test_a_response_body_of_views_is_the_one_of_copies() -> None:
    resources = {r.name: r for r in map(Resource.from_message, _messages()[:4])}
    by_type = {name: r for name, r in resources.items() if r.type_url == ENDPOINT_TYPE}
    body = Selection(ENDPOINT_TYPE, by_type).sotw_body()
    expected = discovery_pb2.DiscoveryResponse(
        version_info=Selection(ENDPOINT_TYPE, by_type).version,
        resources=[by_type[name].unpack() for name in sorted(by_type)],
        type_url=ENDPOINT_TYPE,
    )
    assert body + encode_str_field(5, "n") == (
        expected.SerializeToString(deterministic=True) + encode_str_field(5, "n")
    )
