"""Gateway `limits` → the listener's connection limit filter and its connection manager's limits.

`maxConnections` is Envoy's `envoy.filters.network.connection_limit`, the
first network filter of the listener's chain: Envoy enforces it, unlike the
listener's own `connection_limit` runtime key, which nothing sets. The
kernel and Envoy still accept the connection that is one too many; the
filter closes it at once, before it reaches the HTTP connection manager, so
a flood costs an accept and a close, and the connections already open keep
their requests flowing. The other limits are the connection manager's own
options. Proxy-wide caps over every listener, and the heap, are the
bootstrap's overload manager (`controlplane.bootstrap`), not a policy:
they protect the process, whoever configures its listeners.
"""

from __future__ import annotations

from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.network.connection_limit.v3 import connection_limit_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from breakwater.translators.capacity_model import GatewayLimits
from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings

CONNECTION_LIMIT = "envoy.filters.network.connection_limit"

EXPLAIN: Meanings = {
    ("limits", "max_connections"): FieldMeaning(
        f"listener filter_chains[0].filters[0]: {CONNECTION_LIMIT}.max_connections",
        "not a refusal at the TCP level: the kernel and Envoy accept the extra connection and "
        "the filter closes it at once, before any HTTP is read (the client sees the connection "
        "closed, not a 503); per proxy and per listener, counted in "
        "connection_limit.GATEWAY.limited_connections; established connections are untouched",
    ),
    ("limits", "max_requests_per_connection"): FieldMeaning(
        "listener HCM common_http_protocol_options.max_requests_per_connection",
        "the request that reaches the limit is still served; HTTP/1 clients get `connection: "
        "close` on it, HTTP/2 clients a GOAWAY, and well-behaved clients reconnect",
    ),
    ("limits", "max_concurrent_streams"): FieldMeaning(
        "listener HCM http2_protocol_options.max_concurrent_streams",
        "HTTP/2 only: streams past it wait in the client, they are not refused by Envoy",
    ),
    ("limits", "idle_timeout"): FieldMeaning(
        "listener HCM common_http_protocol_options.idle_timeout",
        "Envoy's default is 1h; a connection with a request in flight is never idle",
    ),
    ("limits", "max_request_headers_kb"): FieldMeaning(
        "listener HCM max_request_headers_kb", "Envoy answers 431 above it (default 60 KiB)"
    ),
}
"""What `breakwater explain` says about the fields translated here (paths under a Gateway)."""


def connection_limit_filter(
    gateway: str, limits: GatewayLimits | None
) -> listener_components_pb2.Filter | None:
    """The first network filter of the gateway's chain, when it limits connections."""
    if limits is None or limits.max_connections is None:
        return None
    config = connection_limit_pb2.ConnectionLimit(stat_prefix=gateway)
    config.max_connections.value = limits.max_connections
    return listener_components_pb2.Filter(name=CONNECTION_LIMIT, typed_config=pack_any(config))


def apply_connection_manager_limits(
    manager: hcm_pb2.HttpConnectionManager, limits: GatewayLimits | None
) -> None:
    if limits is None:
        return
    common = manager.common_http_protocol_options
    if limits.max_requests_per_connection is not None:
        common.max_requests_per_connection.value = limits.max_requests_per_connection
    if limits.idle_timeout is not None:
        set_duration(common.idle_timeout, limits.idle_timeout)
    if limits.max_concurrent_streams is not None:
        manager.http2_protocol_options.max_concurrent_streams.value = limits.max_concurrent_streams
    if limits.max_request_headers_kb is not None:
        manager.max_request_headers_kb.value = limits.max_request_headers_kb
