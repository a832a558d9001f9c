"""A minimal Envoy v3 bootstrap that hands everything else to Breakwater over ADS.

Only the route to the control plane itself is static. Every control plane
address is an endpoint of one cluster, so when a replica goes away the gRPC
stream reconnects to another; HTTP/2 keepalive pings notice a silently dead
replica instead of waiting for TCP to give up.

The same cluster carries the proxy's reports back (unless `fleet_reports` is
off): its stats through the OpenTelemetry stats sink, as deltas, every
`stats_flush_interval`, and its load reports over LRS. See
`breakwater.controlplane.fleet`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from google.protobuf import duration_pb2

from breakwater.controlplane.fleet.contract import (
    DEFAULT_STATS_FLUSH_INTERVAL,
    LATENCY_BUCKETS_MS,
    NODE_HEADER,
)
from breakwater.controlplane.overload import overload_manager
from breakwater.translators import names
from breakwater.translators.durations import parse_duration

XDS_CLUSTER = "xds_cluster"
HTTP_PROTOCOL_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
STATS_FLUSH_MIN = timedelta(milliseconds=1)
STATS_FLUSH_BELOW = timedelta(minutes=5)
"""Envoy refuses a `stats_flush_interval` under 1 ms or of 5 minutes or more."""


def stats_flush_interval(text: str) -> str:
    """A flush interval as users write durations everywhere in Breakwater (`5s`, `250ms`), as
    Envoy's JSON wants it (`5s`, `0.250s`). A bare number is refused: Envoy would refuse the
    bootstrap, and only once the proxy starts."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; give the unit, e.g. 5s") from None
    if not STATS_FLUSH_MIN <= value < STATS_FLUSH_BELOW:
        raise ValueError(f"{text!r} is outside what Envoy takes; give 1ms to under 5m, e.g. 5s")
    duration = duration_pb2.Duration()
    duration.FromTimedelta(value)
    return str(duration.ToJsonString())


LOCAL_CLUSTER = names.LOCAL_CLUSTER


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class XdsTls:
    """How the proxy reaches the control plane over TLS; with a cert and key, over mTLS."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None

    def transport_socket(self) -> dict[str, Any]:
        common: dict[str, Any] = {
            "validation_context": {"trusted_ca": {"filename": self.ca_file}},
            "alpn_protocols": ["h2"],
        }
        if self.server_name:
            common["validation_context"]["match_typed_subject_alt_names"] = [
                {"san_type": "DNS", "matcher": {"exact": self.server_name}}
            ]
        if self.cert_file and self.key_file:
            common["tls_certificates"] = [
                {
                    "certificate_chain": {"filename": self.cert_file},
                    "private_key": {"filename": self.key_file},
                }
            ]
        context: dict[str, Any] = {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": common,
        }
        if self.server_name:
            context["sni"] = self.server_name
        return {"name": "envoy.transport_sockets.tls", "typed_config": context}


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def render_bootstrap(
    node_id: str,
    node_cluster: str,
    xds_addresses: Sequence[tuple[str, int]],
    admin_port: int,
    delta: bool = False,
    node_metadata: Mapping[str, Any] | None = None,
    *,
    connect_timeout: str = "1s",
    initial_fetch_timeout: str | None = None,
    tls: XdsTls | None = None,
    reconnect_base_interval: str = "0.5s",
    reconnect_max_interval: str = "3s",
    fleet_reports: bool = True,
    stats_flush_interval: str = DEFAULT_STATS_FLUSH_INTERVAL,
    proxy_token: str | None = None,
    max_heap_bytes: int | None = None,
    max_downstream_connections: int | None = None,
    zone: str | None = None,
) -> dict[str, Any]:
    """Bootstrap for one proxy, as a dict ready for ``yaml.safe_dump`` or ``json.dumps``.

    ``delta`` picks the incremental protocol (``DELTA_GRPC``) over State of
    the World. ``initial_fetch_timeout`` bounds how long the proxy waits for
    its first CDS/LDS answer before starting anyway (Envoy's default: 15s).
    ``reconnect_max_interval`` caps the jittered wait between attempts to
    reopen the xDS stream: with Envoy's own cap of 30 s, a proxy could take
    up to 30 s to come back after a long control plane outage.
    ``fleet_reports`` sends the proxy's stats and load reports to the control
    plane every ``stats_flush_interval``. ``proxy_token`` goes as
    ``authorization: Bearer`` metadata on every call to the control plane (ADS,
    stats, load reports): the bootstrap then holds a secret.
    ``max_heap_bytes`` and ``max_downstream_connections`` switch on the overload
    manager (`overload`): heap thresholds, and one cap over every listener.
    ``zone`` is the proxy's locality, and brings the local cluster zone-aware
    routing needs (`_local_cluster`).
    """
    if not node_id:
        raise ValueError("node_id must not be empty")
    if not xds_addresses:
        raise ValueError("at least one xDS server address is needed")
    if not 0 < admin_port < 65536:
        raise ValueError(f"admin port {admin_port} out of range")
    for host, port in xds_addresses:
        if not host or not 0 < port < 65536:
            raise ValueError(f"bad xDS server address {host!r}:{port}")

    credentials = [] if proxy_token is None else [_bearer(proxy_token)]
    ads_source: dict[str, Any] = {"ads": {}, "resource_api_version": "V3"}
    if initial_fetch_timeout is not None:
        ads_source["initial_fetch_timeout"] = initial_fetch_timeout
    all_ips = all(_is_ip(host) for host, _ in xds_addresses)
    node: dict[str, Any] = {"id": node_id, "cluster": node_cluster}
    if node_metadata:
        node["metadata"] = dict(node_metadata)
    if zone:
        node["locality"] = {"zone": zone}
    bootstrap: dict[str, Any] = {
        "node": node,
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if delta else "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [
                    {
                        "envoy_grpc": {
                            "cluster_name": XDS_CLUSTER,
                            "retry_policy": {
                                "retry_back_off": {
                                    "base_interval": reconnect_base_interval,
                                    "max_interval": reconnect_max_interval,
                                }
                            },
                        },
                        **({"initial_metadata": credentials} if credentials else {}),
                    }
                ],
                "set_node_on_first_message_only": True,
            },
            "cds_config": dict(ads_source),
            "lds_config": dict(ads_source),
        },
        "static_resources": {
            "clusters": [
                {
                    "name": XDS_CLUSTER,
                    "type": "STATIC" if all_ips else "STRICT_DNS",
                    "connect_timeout": connect_timeout,
                    "load_assignment": {
                        "cluster_name": XDS_CLUSTER,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {"endpoint": {"address": _socket_address(host, port)}}
                                    for host, port in xds_addresses
                                ]
                            }
                        ],
                    },
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": HTTP_PROTOCOL_OPTIONS,
                            "explicit_http_config": {
                                "http2_protocol_options": {
                                    "connection_keepalive": {"interval": "30s", "timeout": "5s"}
                                }
                            },
                        }
                    },
                }
            ]
        },
        "admin": {"address": _socket_address("127.0.0.1", admin_port)},
    }
    if tls is not None:
        bootstrap["static_resources"]["clusters"][0]["transport_socket"] = tls.transport_socket()
    if fleet_reports:
        bootstrap.update(_fleet_reports(node_id, stats_flush_interval, credentials))
    overload = overload_manager(max_heap_bytes, max_downstream_connections)
    if overload is not None:
        bootstrap["overload_manager"] = overload
    if zone:
        bootstrap["static_resources"]["clusters"].append(_local_cluster(ads_source))
        bootstrap.setdefault("cluster_manager", {})["local_cluster_name"] = LOCAL_CLUSTER
    return bootstrap


def _local_cluster(ads_source: dict[str, Any]) -> dict[str, Any]:
    """The proxy's local cluster, which zone-aware routing weighs each upstream's zones against.

    Envoy takes `local_cluster_name` only for a cluster of the bootstrap's static resources,
    so it is declared here, as an EDS cluster over ADS: the server sends the proxies of this
    node cluster as its endpoints, one per proxy in its zone's locality. Envoy never connects
    to them; it only counts them.
    """
    return {
        "name": LOCAL_CLUSTER,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": dict(ads_source)},
        "connect_timeout": "1s",
    }


def _bearer(token: str) -> dict[str, str]:
    return {"key": "authorization", "value": f"Bearer {token}"}


def _fleet_reports(
    node_id: str, flush_interval: str, credentials: list[dict[str, str]]
) -> dict[str, Any]:
    """Stats sink, finer latency buckets and LRS, all to the control plane's cluster."""
    lrs: dict[str, Any] = {"envoy_grpc": {"cluster_name": XDS_CLUSTER}}
    if credentials:
        lrs["initial_metadata"] = credentials
    return {
        "stats_flush_interval": flush_interval,
        "stats_config": {
            "histogram_bucket_settings": [
                {"match": {"suffix": "upstream_rq_time"}, "buckets": list(LATENCY_BUCKETS_MS)}
            ]
        },
        "stats_sinks": [
            {
                "name": "envoy.stat_sinks.open_telemetry",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.stat_sinks.open_telemetry.v3.SinkConfig",
                    "grpc_service": {
                        "envoy_grpc": {"cluster_name": XDS_CLUSTER},
                        "initial_metadata": [{"key": NODE_HEADER, "value": node_id}, *credentials],
                    },
                    "report_counters_as_deltas": True,
                    "report_histograms_as_deltas": True,
                },
            }
        ],
        "cluster_manager": {
            "load_stats_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [lrs],
            }
        },
    }


def render_grpc_bootstrap(
    node_id: str,
    node_cluster: str,
    xds_addresses: Sequence[tuple[str, int]],
    *,
    tls: XdsTls | None = None,
    proxy_token_file: str | None = None,
) -> dict[str, Any]:
    """The xDS bootstrap of a proxyless gRPC client (`GRPC_XDS_BOOTSTRAP`), as a dict for JSON.

    gRPC's format (gRFC A27, A65, A97), not Envoy's: `xds_servers` with their channel
    credentials and `server_features: ["xds_v3"]`, and the node. A client reaches one server
    at a time and falls back to the next only when it cannot (A71), so every address is a
    server of its own. `proxy_token_file` becomes JWT call credentials read from that file
    (A97), which gRPC sends as `authorization: Bearer` on the ADS stream; clients honour it
    where they implement A97, and only over TLS.
    """
    if not node_id:
        raise ValueError("node_id must not be empty")
    if not xds_addresses:
        raise ValueError("at least one xDS server address is needed")
    if tls is None:
        channel_creds: list[dict[str, Any]] = [{"type": "insecure"}]
    else:
        config: dict[str, Any] = {"ca_certificate_file": tls.ca_file}
        if tls.cert_file and tls.key_file:
            config["certificate_file"] = tls.cert_file
            config["private_key_file"] = tls.key_file
        channel_creds = [{"type": "tls", "config": config}]
    servers: list[dict[str, Any]] = []
    for host, port in xds_addresses:
        if not host or not 0 < port < 65536:
            raise ValueError(f"bad xDS server address {host!r}:{port}")
        server: dict[str, Any] = {
            "server_uri": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "channel_creds": channel_creds,
            "server_features": ["xds_v3"],
        }
        if proxy_token_file is not None:
            server["call_creds"] = [
                {"type": "jwt_token_file", "config": {"jwt_token_file": proxy_token_file}}
            ]
        servers.append(server)
    node: dict[str, Any] = {"id": node_id}
    if node_cluster:
        node["cluster"] = node_cluster
    return {"xds_servers": servers, "node": node}


__all__ = ["LOCAL_CLUSTER", "XDS_CLUSTER", "XdsTls", "render_bootstrap", "render_grpc_bootstrap"]
