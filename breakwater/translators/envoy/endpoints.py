"""Service endpoints → ClusterLoadAssignment, one per EDS cluster.

Endpoints travel over EDS rather than inline in the cluster so that a change
of hosts does not rebuild the cluster (and with it its connection pools,
outlier state and health-check state). A drain is therefore an EDS update
too: the host keeps its connections and finishes what it serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from envoy.config.core.v3 import address_pb2, base_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from breakwater.translators.envoy.encoded import (
    encode_bytes_field,
    encode_str_field,
    encode_varint_field,
)
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.ir.nodes import Endpoints, Host, LocalCluster

DRAIN_MEANING = (
    "sent in EDS as `health_status: DRAINING`: Envoy picks the host for no new request while "
    "requests and connections already on it finish. It still counts as a host that is not "
    "healthy: when drained hosts bring the healthy share under the panic threshold (50 % by "
    "default), Envoy sends to every host, drained ones included. Active health checks go on "
    "probing it"
)


EXPLAIN: Meanings = {
    ("failover", "zones"): FieldMeaning(
        "ClusterLoadAssignment.endpoints[].priority, per zone of the proxies (`breakwater "
        "bootstrap --zone`): their own zone 0, then the listed zones, then every other",
        "Envoy moves traffic by each priority's healthy share times the overprovisioning "
        "factor 1.4: the own zone keeps everything while at least 72 % (100/1.4) of its hosts "
        "are healthy, and sheds the rest proportionally below that, before it is empty. Proxies "
        "that named no zone get every zone at priority 0. Panic mode (under 50 % healthy over "
        "all priorities) spreads over every host",
    ),
}
"""What `breakwater explain` says about the zone failover translated here."""


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )


def locality_weight(hosts: Sequence[Host]) -> int:
    """A locality's `load_balancing_weight`: the sum of its hosts' weights.

    Envoy reads locality weights only under locality-weighted balancing, but
    a locality without one counts as weight 0 there (it gets no traffic), so
    every locality carries one: a zone gets the share its hosts would have
    had in one pool, and nothing changes when locality weighting is turned on.
    """
    return sum(host.weight for host in hosts)


def lb_endpoint(host: Host) -> endpoint_components_pb2.LbEndpoint:
    """A host that is not drained carries no health status at all (UNKNOWN, which Envoy treats
    as healthy), as before drains existed."""
    out = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(address=socket_address(host.address, host.port))
    )
    if host.draining:
        out.health_status = health_check_pb2.DRAINING
    if host.weight != 1:
        out.load_balancing_weight.value = host.weight
    return out


def by_zone(hosts: Sequence[Host]) -> list[tuple[str | None, list[Host]]]:
    """Hosts grouped by zone: the hosts without a zone first, then the zones by name; hosts
    keep their declaration order within their zone."""
    zones: dict[str | None, list[Host]] = {}
    for host in hosts:
        zones.setdefault(host.zone, []).append(host)
    return sorted(zones.items(), key=lambda item: (item[0] is not None, item[0] or ""))


def load_assignment_of(
    name: str, hosts: Sequence[Host], priorities: Mapping[str, int] | None = None
) -> endpoint_pb2.ClusterLoadAssignment:
    """One locality per zone with its weight, at priority 0 or at its zone's priority
    (`priorities`, zone → priority, "" for the hosts without a zone)."""
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    for zone, members in by_zone(hosts):
        locality = assignment.endpoints.add()
        if zone is not None:
            locality.locality.zone = zone
        locality.load_balancing_weight.value = locality_weight(members)
        if priorities:
            locality.priority = priorities.get(zone or "", 0)
        locality.lb_endpoints.extend(lb_endpoint(host) for host in members)
    return assignment


def _number(message: type[Message], field: str) -> int:
    return int(message.DESCRIPTOR.fields_by_name[field].number)


_CLA_NAME = _number(endpoint_pb2.ClusterLoadAssignment, "cluster_name")
_CLA_ENDPOINTS = _number(endpoint_pb2.ClusterLoadAssignment, "endpoints")
_LOCALITY = _number(endpoint_components_pb2.LocalityLbEndpoints, "locality")
_LB_ENDPOINTS = _number(endpoint_components_pb2.LocalityLbEndpoints, "lb_endpoints")
_LOCALITY_WEIGHT = _number(endpoint_components_pb2.LocalityLbEndpoints, "load_balancing_weight")
_PRIORITY = _number(endpoint_components_pb2.LocalityLbEndpoints, "priority")
_ZONE = _number(base_pb2.Locality, "zone")
_ENDPOINT = _number(endpoint_components_pb2.LbEndpoint, "endpoint")
_HEALTH_STATUS = _number(endpoint_components_pb2.LbEndpoint, "health_status")
_HOST_WEIGHT = _number(endpoint_components_pb2.LbEndpoint, "load_balancing_weight")
_ADDRESS = _number(endpoint_components_pb2.Endpoint, "address")
_SOCKET_ADDRESS = _number(address_pb2.Address, "socket_address")
_IP = _number(address_pb2.SocketAddress, "address")
_PORT = _number(address_pb2.SocketAddress, "port_value")
_VALUE = _number(wrappers_pb2.UInt32Value, "value")


def _weight(value: int) -> bytes:
    """A `UInt32Value`, set (so written even when 0)."""
    return encode_varint_field(_VALUE, value)


def _encoded_host(host: Host) -> bytes:
    """The port is a member of a oneof (`port_specifier`), so a port of 0 is written too."""
    socket = encode_str_field(_IP, host.address) + encode_varint_field(
        _PORT, host.port, present=True
    )
    address = encode_bytes_field(_SOCKET_ADDRESS, socket)
    entry = encode_bytes_field(_ENDPOINT, encode_bytes_field(_ADDRESS, address))
    if host.draining:
        entry += encode_varint_field(_HEALTH_STATUS, health_check_pb2.DRAINING)
    if host.weight != 1:
        entry += encode_bytes_field(_HOST_WEIGHT, _weight(host.weight))
    return encode_bytes_field(_LB_ENDPOINTS, entry)


def encoded_load_assignment(
    name: str, hosts: Sequence[Host], priorities: Mapping[str, int] | None = None
) -> bytes:
    """`load_assignment_of(...)` deterministically serialized, written field by field in
    number order without building the messages: twenty thousand assignments are a fifth of
    a full translation when built as messages."""
    localities = [encode_str_field(_CLA_NAME, name)]
    for zone, members in by_zone(hosts):
        parts = (
            [] if zone is None else [encode_bytes_field(_LOCALITY, encode_str_field(_ZONE, zone))]
        )
        parts += [_encoded_host(host) for host in members]
        parts.append(encode_bytes_field(_LOCALITY_WEIGHT, _weight(locality_weight(members))))
        if priorities:
            parts.append(encode_varint_field(_PRIORITY, priorities.get(zone or "", 0)))
        localities.append(encode_bytes_field(_CLA_ENDPOINTS, b"".join(parts)))
    return b"".join(localities)


def load_assignment(endpoints: Endpoints) -> endpoint_pb2.ClusterLoadAssignment:
    """An endpoint set's assignment. A subset that selects nothing gives one without endpoints:
    Envoy accepts it and answers requests routed there with 503 (`UH`), which is what an
    empty canary should do."""
    return load_assignment_of(endpoints.cluster, endpoints.hosts, dict(endpoints.priorities))


def local_assignment(local: LocalCluster) -> endpoint_pb2.ClusterLoadAssignment:
    """The node cluster's proxies, one host per proxy in its zone's locality.

    Envoy only counts these hosts (the share of proxies in each zone, to weigh against the
    share of each upstream's hosts there); it never connects to them, so each is a
    placeholder on loopback, one port per proxy.
    """
    hosts: list[Host] = []
    for zone, count in local.zones:
        for _ in range(count):
            hosts.append(Host("127.0.0.1", len(hosts) + 1, False, zone or None))
    return load_assignment_of(local.name, hosts)
