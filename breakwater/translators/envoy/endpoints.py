"""Service endpoints → ClusterLoadAssignment, one per EDS cluster.

Endpoints travel over EDS rather than inline in the cluster so that a change
of hosts does not rebuild the cluster (and with it its connection pools,
outlier state and health-check state). A drain is therefore an EDS update
too: the host keeps its connections and finishes what it serves.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.core.v3 import address_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from breakwater.translators.ir.nodes import Endpoints

DRAIN_MEANING = (
    "sent in EDS as `health_status: DRAINING`: Envoy picks the host for no new request while "
    "requests and connections already on it finish. It still counts as a host that is not "
    "healthy: when drained hosts bring the healthy share under the panic threshold (50 % by "
    "default), Envoy sends to every host, drained ones included. Active health checks go on "
    "probing it"
)


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


def load_assignment(endpoints: Endpoints) -> endpoint_pb2.ClusterLoadAssignment:
    """An endpoint set's assignment. A subset that selects nothing gives one without endpoints:
    Envoy accepts it and answers requests routed there with 503 (`UH`), which is what an
    empty canary should do."""
    return load_assignment_of(
        endpoints.cluster,
        [(address, port) for address, port, _ in endpoints.hosts],
        [draining for _, _, draining in endpoints.hosts],
    )
