"""Services → Envoy clusters: one per service, one per subset, and an aggregate per failover.

Every cluster takes its resilience settings from the effective policy of its
own level (`effective_for_cluster(service, subset)`), so a subset can be
guarded more tightly than its service.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import config_source_pb2, protocol_pb2
from envoy.extensions.clusters.aggregate.v3 import cluster_pb2 as aggregate_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message

from breakwater.translators.balancing import apply_load_balancer
from breakwater.translators.bulkhead import circuit_breakers, retry_limits_only
from breakwater.translators.endpoints import load_assignment_of
from breakwater.translators.health import health_checks
from breakwater.translators.meanings import FieldMeaning, Meanings
from breakwater.translators.model import Protocol, ResilienceSpec, Service
from breakwater.translators.names import cluster_name, failover_cluster_name
from breakwater.translators.outlier import healthy_panic_threshold, outlier_detection
from breakwater.translators.policyset import PolicySet

Target = tuple[str, str | None]
"""A (service, subset) pair: what one plain cluster serves."""

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


class ClusterPolicies:
    """The effective policy of each (service, subset), merged once per translation.

    Routes, clusters and failover all ask for the same levels; merging is the
    expensive part of translating, so one translation shares one of these.
    """

    def __init__(self, policyset: PolicySet) -> None:
        self.policyset = policyset
        self._specs: dict[Target, ResilienceSpec] = {}

    def spec(self, service: str, subset: str | None) -> ResilienceSpec:
        key = (service, subset)
        if key not in self._specs:
            self._specs[key] = self.policyset.effective_for_cluster(service, subset).spec
        return self._specs[key]

    def failover_target(self, service: str, subset: str | None) -> Target | None:
        """Where (service, subset) fails over to, if anywhere.

        A target that is not a known service, or that is the primary itself,
        is ignored here (validation reports it) rather than producing a
        cluster that Envoy would reject or that loops back on itself.
        """
        failover = self.spec(service, subset).failover
        if failover is None or failover.to not in self.policyset.services:
            return None
        target = (failover.to, failover.subset)
        if target == (service, subset):
            return None
        return target

    def routed_cluster_name(self, service: str, subset: str | None) -> str:
        """The cluster a route sends a backend's traffic to: its failover aggregate when it has one."""
        if self.failover_target(service, subset) is not None:
            return failover_cluster_name(service, subset)
        return cluster_name(service, subset)


def failover_target(policyset: PolicySet, service: str, subset: str | None) -> Target | None:
    """`ClusterPolicies.failover_target` for a single question (explain, status)."""
    return ClusterPolicies(policyset).failover_target(service, subset)


def routed_cluster_name(policyset: PolicySet, service: str, subset: str | None) -> str:
    """`ClusterPolicies.routed_cluster_name` for a single question (the weights API, status)."""
    return ClusterPolicies(policyset).routed_cluster_name(service, subset)


def upstream_cluster(
    service: Service, subset: str | None, policy: ResilienceSpec
) -> cluster_pb2.Cluster:
    """The plain cluster of a service or subset: endpoints over EDS, or Envoy's own DNS."""
    name = cluster_name(service.name, subset)
    cluster = cluster_pb2.Cluster(name=name)
    dns = service.spec.dns
    if dns is not None:
        # Envoy resolves the name itself and keeps every address it returns.
        cluster.type = cluster_pb2.Cluster.DiscoveryType.STRICT_DNS
        cluster.load_assignment.CopyFrom(load_assignment_of(name, [(dns.name, dns.port)]))
    else:
        cluster.type = cluster_pb2.Cluster.DiscoveryType.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(ads_config_source())

    # Unset means Envoy's own default of 5 s.
    if policy.timeout is not None and policy.timeout.connect is not None:
        cluster.connect_timeout.FromTimedelta(policy.timeout.connect)

    for key, packed in protocol_options(service.spec.protocol).items():
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

    default_host = dns.name if dns is not None else service.name
    cluster.health_checks.extend(
        health_checks(policy.health_check, service.spec.protocol, default_host)
    )
    return cluster


def failover_cluster(primary: cluster_pb2.Cluster, target: str, name: str) -> cluster_pb2.Cluster:
    """An aggregate cluster that prefers `primary` and spills over to `target`.

    This is not the seed guide's per-request fallback: nothing is retried
    elsewhere and no fallback body is made up. Envoy treats the two clusters
    as priority levels and moves traffic to the target as the primary's hosts
    become unhealthy (failed health checks or outlier ejections), gradually,
    with Envoy's overprovisioning factor of 1.4: some traffic moves once fewer
    than about 71 % of the primary's hosts are healthy. A primary without
    health checks or a circuit breaker never looks unhealthy, so it only
    fails over when it has no endpoints at all.
    """
    config = aggregate_pb2.ClusterConfig(clusters=[primary.name, target])
    cluster = cluster_pb2.Cluster(
        name=name,
        lb_policy=cluster_pb2.Cluster.LbPolicy.CLUSTER_PROVIDED,
        cluster_type=cluster_pb2.Cluster.CustomClusterType(
            name=AGGREGATE_CLUSTER, typed_config=pack_any(config)
        ),
    )
    retry_limits = retry_limits_only(
        primary.circuit_breakers if primary.HasField("circuit_breakers") else None
    )
    if retry_limits is not None:
        cluster.circuit_breakers.CopyFrom(retry_limits)
    return cluster


def reachable_targets(
    policyset: PolicySet, backends: Iterable[Target], policies: ClusterPolicies | None = None
) -> tuple[list[Target], list[tuple[Target, Target]]]:
    """What routes to `backends` need: the plain clusters (failover targets included), and the aggregates.

    Returned sorted by cluster name. Backends of unknown services are left
    out: validation reports them, and Envoy answers their routes with 503.
    """
    policies = policies or ClusterPolicies(policyset)
    plain: dict[str, Target] = {}
    aggregates: dict[str, tuple[Target, Target]] = {}
    for service, subset in backends:
        if service not in policyset.services:
            continue
        plain[cluster_name(service, subset)] = (service, subset)
        target = policies.failover_target(service, subset)
        if target is not None:
            plain[cluster_name(*target)] = target
            aggregates[failover_cluster_name(service, subset)] = ((service, subset), target)
    return [plain[k] for k in sorted(plain)], [aggregates[k] for k in sorted(aggregates)]


def clusters_for(
    policyset: PolicySet, backends: Iterable[Target], policies: ClusterPolicies | None = None
) -> list[cluster_pb2.Cluster]:
    """Every cluster that routes to `backends` need, sorted by name."""
    policies = policies or ClusterPolicies(policyset)
    plain, aggregates = reachable_targets(policyset, backends, policies)
    built: dict[str, cluster_pb2.Cluster] = {}
    for service, subset in plain:
        cluster = upstream_cluster(
            policyset.services[service], subset, policies.spec(service, subset)
        )
        built[cluster.name] = cluster
    for primary, target in aggregates:
        name = failover_cluster_name(*primary)
        built[name] = failover_cluster(built[cluster_name(*primary)], cluster_name(*target), name)
    return [built[k] for k in sorted(built)]
