"""A resource made from the parts of its encoding is the resource made from its message."""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2, route_pb2

from breakwater.translators.envoy.encoded import (
    Resource,
    encode_bytes_field,
    entry_digest,
    version_of_entries,
)
from breakwater.xds_types import ROUTE_TYPE


def _host(index: int) -> route_components_pb2.VirtualHost:
    route = route_components_pb2.Route(
        match=route_components_pb2.RouteMatch(prefix="/"),
        route=route_components_pb2.RouteAction(cluster=f"svc-{index}"),
    )
    return route_components_pb2.VirtualHost(
        name=f"svc-{index}", domains=[f"svc-{index}", "x" * (index * 40)], routes=[route]
    )


def test_a_route_configuration_from_its_parts_is_the_one_from_its_message() -> None:
    for hosts in (0, 1, 5):
        configuration = route_pb2.RouteConfiguration(
            name="edge", virtual_hosts=[_host(i) for i in range(hosts)]
        )
        whole = Resource.from_message(configuration)
        shell = route_pb2.RouteConfiguration(name="edge").SerializeToString(deterministic=True)
        entries = [
            encode_bytes_field(2, host.SerializeToString(deterministic=True))
            for host in configuration.virtual_hosts
        ]
        parts = [shell, *entries]
        version = version_of_entries(map(entry_digest, parts))
        made = Resource.from_parts(ROUTE_TYPE, "edge", parts, whole.refs, version)
        assert made == whole
        assert (made.any_bytes, made.sotw_entry, made.delta_entry) == (
            whole.any_bytes,
            whole.sotw_entry,
            whole.delta_entry,
        )
