"""Hand-built Envoy resources for the control plane tests (no translators involved)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2, duration_pb2

from breakwater.controlplane.xds.resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    Snapshot,
)
from breakwater.devtools.ports import LOOPBACK


def _ads() -> Any:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )


def _address(host: str, port: int) -> Any:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=host, port_value=port)
    )


def eds_cluster(name: str, *, connect_timeout_ms: int = 500) -> Any:
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=_ads()),
        connect_timeout=duration_pb2.Duration(nanos=connect_timeout_ms * 1_000_000),
    )


def load_assignment(name: str, ports: Sequence[int], host: str = LOOPBACK) -> Any:
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(address=_address(host, port))
                    )
                    for port in ports
                ]
            )
        ],
    )


def http_listener(name: str, port: int, route_name: str, host: str = LOOPBACK) -> Any:
    router = any_pb2.Any()
    router.Pack(router_pb2.Router())
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        rds=hcm_pb2.Rds(config_source=_ads(), route_config_name=route_name),
        http_filters=[hcm_pb2.HttpFilter(name="envoy.filters.http.router", typed_config=router)],
    )
    packed = any_pb2.Any()
    packed.Pack(manager)
    return listener_pb2.Listener(
        name=name,
        address=_address(host, port),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager", typed_config=packed
                    )
                ]
            )
        ],
    )


def weighted_routes(
    name: str, weights: Mapping[str, int], *, header: tuple[str, str] | None = None
) -> Any:
    """One virtual host matching every domain; '/' goes to ``weights``."""
    action = route_components_pb2.RouteAction()
    if len(weights) == 1:
        action.cluster = next(iter(weights))
    else:
        for cluster, weight in weights.items():
            action.weighted_clusters.clusters.add(name=cluster).weight.value = weight
    route = route_components_pb2.Route(
        match=route_components_pb2.RouteMatch(prefix="/"), route=action
    )
    if header is not None:
        route.response_headers_to_add.add(
            header=base_pb2.HeaderValue(key=header[0], value=header[1])
        )
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[route_components_pb2.VirtualHost(name=name, domains=["*"], routes=[route])],
    )


def snapshot(
    *,
    backends: Mapping[str, Sequence[int]],
    weights: Mapping[str, int],
    listener_port: int,
    listener: str = "ingress",
    route: str = "ingress-routes",
    header: tuple[str, str] | None = None,
    extra_listeners: Sequence[Any] = (),
    connect_timeouts_ms: Mapping[str, int] | None = None,
) -> Snapshot:
    """A complete config: one EDS cluster per backend, one listener, one route config.

    ``connect_timeouts_ms`` changes some clusters (and nothing else) by their connect timeout.
    """
    timeouts = connect_timeouts_ms or {}
    return Snapshot.from_messages(
        {
            CLUSTER_TYPE: [
                eds_cluster(name, connect_timeout_ms=timeouts.get(name, 500)) for name in backends
            ],
            ENDPOINT_TYPE: [load_assignment(name, ports) for name, ports in backends.items()],
            LISTENER_TYPE: [http_listener(listener, listener_port, route), *extra_listeners],
            ROUTE_TYPE: [weighted_routes(route, weights, header=header)],
        }
    )
