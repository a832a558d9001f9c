"""Service endpoints → ClusterLoadAssignment, one per EDS cluster.

Endpoints travel over EDS rather than inline in the cluster so that a change
of hosts does not rebuild the cluster (and with it its connection pools,
outlier state and health-check state). A drain is therefore an EDS update
too: the host keeps its connections and finishes what it serves.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from envoy.config.core.v3 import address_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from breakwater.translators.model import Endpoint, Service
from breakwater.translators.names import cluster_name

DRAIN_MEANING = (
    "sent in EDS as `health_status: DRAINING`: Envoy picks the host for no new request while "
    "requests and connections already on it finish. It still counts as a host that is not "
    "healthy: when drained hosts bring the healthy share under the panic threshold (50 % by "
    "default), Envoy sends to every host, drained ones included. Active health checks go on "
    "probing it"
)


def endpoint_key(address: str, port: int) -> str:
    """How an endpoint is named to operators, in the API and in the store: `ADDRESS:PORT`, the
    address as Python spells it canonically, IPv6 in brackets (`[fd00::7]:8080`)."""
    canonical = str(ipaddress.ip_address(address))
    return f"[{canonical}]:{port}" if ":" in canonical else f"{canonical}:{port}"


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )


def load_assignment_of(
    name: str, hosts: Sequence[tuple[str, int]], draining: Sequence[bool] = ()
) -> endpoint_pb2.ClusterLoadAssignment:
    """All hosts in one locality at priority 0: Breakwater has no notion of zones yet.

    `draining[i]` marks host i DRAINING; a host that is not drained carries no
    health status at all (UNKNOWN, which Envoy treats as healthy), as before drains existed.
    """
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    if hosts:
        locality = assignment.endpoints.add()
        for index, (address, port) in enumerate(hosts):
            lb_endpoint = endpoint_components_pb2.LbEndpoint(
                endpoint=endpoint_components_pb2.Endpoint(address=socket_address(address, port))
            )
            if index < len(draining) and draining[index]:
                lb_endpoint.health_status = health_check_pb2.DRAINING
            locality.lb_endpoints.append(lb_endpoint)
    return assignment


def _hosts(endpoints: Sequence[Endpoint]) -> list[tuple[str, int]]:
    return [(e.address, e.port) for e in endpoints]


def load_assignment(
    service: Service, subset: str | None = None, drained: frozenset[str] = frozenset()
) -> endpoint_pb2.ClusterLoadAssignment:
    """The endpoints a service (or one of its subsets) selects, in the order they are declared.

    A subset that selects nothing gives an assignment without endpoints:
    Envoy accepts it and answers requests routed there with 503 (`UH`), which
    is what an empty canary should do. `drained` holds `ADDRESS:PORT` keys.
    """
    endpoints = service.spec.endpoints_of(subset)
    draining = [endpoint_key(e.address, e.port) in drained for e in endpoints] if drained else []
    return load_assignment_of(cluster_name(service.name, subset), _hosts(endpoints), draining)
