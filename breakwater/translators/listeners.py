"""Gateway → Listener with an HTTP connection manager that takes its routes over RDS,
behind TLS when the gateway has `tls` (`tls.transport_socket`).

Routes come over RDS rather than inline so that a weight change re-sends one
RouteConfiguration and leaves the listener, and its open connections, alone.
For the same reason the HTTP filters a route may switch on are all in the
chain from the start (`http_filters`).
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from breakwater.translators.clusters import ads_config_source, pack_any
from breakwater.translators.endpoints import socket_address
from breakwater.translators.http_filters import http_filters
from breakwater.translators.model import Gateway
from breakwater.translators.names import listener_name, route_config_name
from breakwater.translators.policyset import PolicySet
from breakwater.translators.telemetry import access_logs, hcm_tracing
from breakwater.translators.tls import transport_socket
from breakwater.translators.traffic_model import RateLimit

HTTP_CONNECTION_MANAGER = "envoy.filters.network.http_connection_manager"


def http_connection_manager(
    policyset: PolicySet,
    gateway: str,
    rate_limit: RateLimit | None = None,
    admission: Sequence[hcm_pb2.HttpFilter] = (),
) -> hcm_pb2.HttpConnectionManager:
    """Routes over RDS; tracing and access logs from the gateway's merged Telemetry."""
    telemetry = policyset.effective_telemetry(gateway).spec
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=gateway,
        rds=hcm_pb2.Rds(
            config_source=ads_config_source(), route_config_name=route_config_name(gateway)
        ),
        http_filters=http_filters(gateway, rate_limit, admission),
        access_log=access_logs(policyset, gateway, telemetry),
    )
    tracing = hcm_tracing(policyset, gateway, telemetry)
    if tracing is not None:
        manager.tracing.CopyFrom(tracing)
    return manager


def listener(
    policyset: PolicySet, gateway: Gateway, admission: Sequence[hcm_pb2.HttpFilter] = ()
) -> listener_pb2.Listener:
    """`admission`: the gateway's admission control filters (`admission.gateway_filters`)."""
    manager = http_connection_manager(policyset, gateway.name, gateway.spec.rate_limit, admission)
    chain = listener_components_pb2.FilterChain(
        filters=[
            listener_components_pb2.Filter(
                name=HTTP_CONNECTION_MANAGER, typed_config=pack_any(manager)
            )
        ]
    )
    if gateway.spec.tls is not None:
        chain.transport_socket.CopyFrom(transport_socket(gateway.spec.tls))
    return listener_pb2.Listener(
        name=listener_name(gateway.name),
        address=socket_address(gateway.spec.address, gateway.spec.port),
        filter_chains=[chain],
    )
