"""Gateway → Listener with an HTTP connection manager that takes its routes over RDS,
behind TLS when the gateway has `tls` (`tls.transport_socket`), and its `limits`.

Routes come over RDS rather than inline so that a weight change re-sends one
RouteConfiguration and leaves the listener, and its open connections, alone.
For the same reason the HTTP filters a route may switch on are all in the
chain from the start (`http_filters`).
"""

from __future__ import annotations

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from breakwater.translators.envoy.adaptive import adaptive_filter
from breakwater.translators.envoy.admission import admission_filter
from breakwater.translators.envoy.clusters import ads_config_source, pack_any
from breakwater.translators.envoy.endpoints import socket_address
from breakwater.translators.envoy.global_ratelimit import rate_limit_filters
from breakwater.translators.envoy.http_filters import http_filters
from breakwater.translators.envoy.limits import (
    apply_connection_manager_limits,
    connection_limit_filter,
)
from breakwater.translators.envoy.telemetry import access_logs, hcm_tracing
from breakwater.translators.envoy.tls import transport_socket
from breakwater.translators.ir.nodes import Listener
from breakwater.translators.names import listener_name, route_config_name

HTTP_CONNECTION_MANAGER = "envoy.filters.network.http_connection_manager"


def http_connection_manager(resolved: Listener) -> hcm_pb2.HttpConnectionManager:
    """Routes over RDS; tracing and access logs from the gateway's merged Telemetry."""
    gateway = resolved.gateway
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=gateway,
        rds=hcm_pb2.Rds(
            config_source=ads_config_source(), route_config_name=route_config_name(gateway)
        ),
        http_filters=http_filters(
            gateway,
            resolved.rate_limit,
            [
                *(admission_filter(f) for f in resolved.admission),
                *(adaptive_filter(f) for f in resolved.adaptive),
            ],
            []
            if resolved.rate_limit_service is None
            else rate_limit_filters(resolved.rate_limit_service),
        ),
        access_log=access_logs(gateway, resolved.access_log),
    )
    if resolved.tracing is not None:
        manager.tracing.CopyFrom(hcm_tracing(resolved.tracing))
    apply_connection_manager_limits(manager, resolved.limits)
    return manager


def listener(resolved: Listener) -> listener_pb2.Listener:
    manager = http_connection_manager(resolved)
    # The connection limit comes first: a connection over it is closed before
    # the connection manager reads a byte of it.
    limiter = connection_limit_filter(resolved.gateway, resolved.limits)
    chain = listener_components_pb2.FilterChain(
        filters=[
            *([limiter] if limiter is not None else []),
            listener_components_pb2.Filter(
                name=HTTP_CONNECTION_MANAGER, typed_config=pack_any(manager)
            ),
        ]
    )
    if resolved.tls is not None:
        chain.transport_socket.CopyFrom(transport_socket(resolved.tls))
    return listener_pb2.Listener(
        name=listener_name(resolved.gateway),
        address=socket_address(resolved.address, resolved.port),
        filter_chains=[chain],
    )
