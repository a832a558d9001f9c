"""Gateway → Listener with an HTTP connection manager that takes its routes over RDS.

Routes come over RDS rather than inline so that a weight change re-sends one
RouteConfiguration and leaves the listener, and its open connections, alone.
For the same reason the HTTP filters a route may switch on are all in the
chain from the start (`http_filters`).
"""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import substitution_format_string_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.access_loggers.stream.v3 import stream_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import struct_pb2

from breakwater.translators.clusters import ads_config_source, pack_any
from breakwater.translators.endpoints import socket_address
from breakwater.translators.http_filters import http_filters
from breakwater.translators.model import Gateway
from breakwater.translators.names import listener_name, route_config_name
from breakwater.translators.traffic_model import RateLimit

HTTP_CONNECTION_MANAGER = "envoy.filters.network.http_connection_manager"
STDOUT_ACCESS_LOG = "envoy.access_loggers.stdout"

ACCESS_LOG_FIELDS: dict[str, str] = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "authority": "%REQ(:AUTHORITY)%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "route_name": "%ROUTE_NAME%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    "duration_ms": "%DURATION%",
}
"""One JSON object per request. `response_flags` says why Envoy answered itself
(UO bulkhead overflow, UH no healthy host, URX retries exhausted, UT timeout),
`route_name` which rule matched, `attempts` how many tries a request took."""


def access_log() -> accesslog_pb2.AccessLog:
    fields = struct_pb2.Struct()
    fields.update(ACCESS_LOG_FIELDS)
    stdout = stream_pb2.StdoutAccessLog(
        log_format=substitution_format_string_pb2.SubstitutionFormatString(json_format=fields)
    )
    return accesslog_pb2.AccessLog(name=STDOUT_ACCESS_LOG, typed_config=pack_any(stdout))


def http_connection_manager(
    gateway: str, rate_limit: RateLimit | None = None
) -> hcm_pb2.HttpConnectionManager:
    return hcm_pb2.HttpConnectionManager(
        stat_prefix=gateway,
        rds=hcm_pb2.Rds(
            config_source=ads_config_source(), route_config_name=route_config_name(gateway)
        ),
        http_filters=http_filters(gateway, rate_limit),
        access_log=[access_log()],
    )


def listener(gateway: Gateway) -> listener_pb2.Listener:
    manager = http_connection_manager(gateway.name, gateway.spec.rate_limit)
    return listener_pb2.Listener(
        name=listener_name(gateway.name),
        address=socket_address(gateway.spec.address, gateway.spec.port),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name=HTTP_CONNECTION_MANAGER, typed_config=pack_any(manager)
                    )
                ]
            )
        ],
    )
