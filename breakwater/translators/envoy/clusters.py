"""Services → Envoy clusters: one per service, one per subset, and an aggregate per failover.

Every cluster takes its resilience settings from the effective policy of its
own level (`effective_for_cluster(service, subset)`), so a subset can be
guarded more tightly than its service.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import config_source_pb2, protocol_pb2
from envoy.extensions.clusters.aggregate.v3 import cluster_pb2 as aggregate_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message

from breakwater.translators.envoy.balancing import apply_load_balancer
from breakwater.translators.envoy.bulkhead import circuit_breakers, retry_limits_only
from breakwater.translators.envoy.endpoints import load_assignment_of
from breakwater.translators.envoy.health import health_checks
from breakwater.translators.envoy.outlier import healthy_panic_threshold, outlier_detection
from breakwater.translators.envoy.wellknown import set_duration
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.ir.nodes import Cluster, Host
from breakwater.translators.model import Protocol

HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
AGGREGATE_CLUSTER = "envoy.clusters.aggregate"

EXPLAIN: Meanings = {
    ("timeout", "connect"): FieldMeaning("cluster.connect_timeout", "Envoy default 5s when unset"),
    ("failover", "to"): FieldMeaning(
        "aggregate cluster (envoy.clusters.aggregate) [primary, fallback]",
        "traffic moves to the fallback when the primary has no healthy host; there is no "
        "per-request fallback body",
    ),
    ("failover", "subset"): FieldMeaning("the fallback cluster of the aggregate"),
}
"""What `breakwater explain` says about the fields translated here."""


def pack_any(message: Message) -> any_pb2.Any:
    """Deterministically: the packed bytes are part of the resource's content hash."""
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed


def ads_config_source() -> config_source_pb2.ConfigSource:
    """Everything comes over the one ADS stream, so updates can be ordered make-before-break."""
    source = config_source_pb2.ConfigSource(resource_api_version=config_source_pb2.ApiVersion.V3)
    source.ads.SetInParent()
    return source


def protocol_options(protocol: Protocol) -> dict[str, any_pb2.Any]:
    """HTTP/2 (and gRPC, which needs it) by prior knowledge; plain `http` keeps Envoy's HTTP/1.1."""
    if protocol not in ("http2", "grpc"):
        return {}
    options = http_protocol_options_pb2.HttpProtocolOptions(
        explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
            http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
        )
    )
    return {HTTP_PROTOCOL_OPTIONS: pack_any(options)}


def upstream_cluster(resolved: Cluster) -> cluster_pb2.Cluster:
    """The plain cluster of a service or subset: endpoints over EDS, or Envoy's own DNS."""
    name, policy, dns = resolved.name, resolved.policy.spec, resolved.dns
    cluster = cluster_pb2.Cluster(name=name)
    if dns is not None:
        # Envoy resolves the name itself and keeps every address it returns.
        cluster.type = cluster_pb2.Cluster.DiscoveryType.STRICT_DNS
        cluster.load_assignment.CopyFrom(load_assignment_of(name, [Host(*dns, draining=False)]))
    else:
        cluster.type = cluster_pb2.Cluster.DiscoveryType.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(ads_config_source())

    # Unset means Envoy's own default of 5 s.
    if policy.timeout is not None and policy.timeout.connect is not None:
        set_duration(cluster.connect_timeout, policy.timeout.connect)

    for key, packed in protocol_options(resolved.protocol).items():
        cluster.typed_extension_protocol_options[key].CopyFrom(packed)

    od = outlier_detection(policy.circuit_breaker)
    if od is not None:
        cluster.outlier_detection.CopyFrom(od)
    panic = healthy_panic_threshold(policy.circuit_breaker)
    if panic is not None:
        cluster.common_lb_config.healthy_panic_threshold.CopyFrom(panic)

    budget = policy.retry.budget if policy.retry is not None else None
    breakers = circuit_breakers(policy.bulkhead, budget)
    if breakers is not None:
        cluster.circuit_breakers.CopyFrom(breakers)

    apply_load_balancer(cluster, policy.load_balancer)

    default_host = dns[0] if dns is not None else resolved.service
    cluster.health_checks.extend(
        health_checks(policy.health_check, resolved.protocol, default_host)
    )
    return cluster


def failover_cluster(
    primary: str, limits: cluster_pb2.Cluster, target: str, name: str
) -> cluster_pb2.Cluster:
    """An aggregate cluster that prefers `primary` and spills over to `target`; `limits`: a
    cluster with the primary's circuit breakers (the primary, or one that differs from it
    by name alone).

    This is not the seed guide's per-request fallback: nothing is retried
    elsewhere and no fallback body is made up. Envoy treats the two clusters
    as priority levels and moves traffic to the target as the primary's hosts
    become unhealthy (failed health checks or outlier ejections), gradually,
    with Envoy's overprovisioning factor of 1.4: some traffic moves once fewer
    than about 71 % of the primary's hosts are healthy. A primary without
    health checks or a circuit breaker never looks unhealthy, so it only
    fails over when it has no endpoints at all.
    """
    config = aggregate_pb2.ClusterConfig(clusters=[primary, target])
    cluster = cluster_pb2.Cluster(
        name=name,
        lb_policy=cluster_pb2.Cluster.LbPolicy.CLUSTER_PROVIDED,
        cluster_type=cluster_pb2.Cluster.CustomClusterType(
            name=AGGREGATE_CLUSTER, typed_config=pack_any(config)
        ),
    )
    retry_limits = retry_limits_only(
        limits.circuit_breakers if limits.HasField("circuit_breakers") else None
    )
    if retry_limits is not None:
        cluster.circuit_breakers.CopyFrom(retry_limits)
    return cluster
