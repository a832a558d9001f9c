"""Service endpoints → ClusterLoadAssignment, one per EDS cluster.

Endpoints travel over EDS rather than inline in the cluster so that a change
of hosts does not rebuild the cluster (and with it its connection pools,
outlier state and health-check state).
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from breakwater.translators.model import Endpoint, Service
from breakwater.translators.names import cluster_name


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )


def load_assignment_of(
    name: str, hosts: Sequence[tuple[str, int]]
) -> endpoint_pb2.ClusterLoadAssignment:
    """All hosts in one locality at priority 0: Breakwater has no notion of zones yet."""
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    if hosts:
        locality = assignment.endpoints.add()
        for address, port in hosts:
            locality.lb_endpoints.append(
                endpoint_components_pb2.LbEndpoint(
                    endpoint=endpoint_components_pb2.Endpoint(address=socket_address(address, port))
                )
            )
    return assignment


def _hosts(endpoints: Sequence[Endpoint]) -> list[tuple[str, int]]:
    return [(e.address, e.port) for e in endpoints]


def load_assignment(
    service: Service, subset: str | None = None
) -> endpoint_pb2.ClusterLoadAssignment:
    """The endpoints a service (or one of its subsets) selects, in the order they are declared.

    A subset that selects nothing gives an assignment without endpoints:
    Envoy accepts it and answers requests routed there with 503 (`UH`), which
    is what an empty canary should do.
    """
    return load_assignment_of(
        cluster_name(service.name, subset), _hosts(service.spec.endpoints_of(subset))
    )
