"""What a node group's proxies send to: the targets, their clusters, their endpoint sets.

Which (service, subset) pairs a group needs (every backend of every route on
its gateways, zero-weight ones, mirrors and collectors included, so a weight
change never has to add a cluster first), which effective policy each
cluster takes, and where a backend's traffic is routed (its failover
aggregate when it has one) are decided here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from breakwater.translators.ir.memo import Memo
from breakwater.translators.ir.nodes import Aggregate, Cluster, Endpoints, Host, Upstreams
from breakwater.translators.model import ResilienceSpec, Service
from breakwater.translators.names import Target, cluster_name, endpoint_key, failover_cluster_name
from breakwater.translators.policyset import Effective, PolicySet
from breakwater.translators.route_model import HTTPRoute
from breakwater.translators.telemetry_model import TelemetrySpec


class ClusterPolicies:
    """The effective policy of each (service, subset), merged once per resolution.

    Routes, clusters and failover all ask for the same levels; merging is the
    expensive part of translating, so one resolution shares one of these.
    """

    def __init__(self, policyset: PolicySet) -> None:
        self.policyset = policyset
        self._found: dict[Target, Effective] = {}

    def effective(self, service: str, subset: str | None) -> Effective:
        key = (service, subset)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self.policyset.effective_for_cluster(service, subset)
        return found

    def spec(self, service: str, subset: str | None) -> ResilienceSpec:
        return self.effective(service, subset).spec

    def failover_target(self, service: str, subset: str | None) -> Target | None:
        """Where (service, subset) fails over to, if anywhere.

        A target that is not a known service, or that is the primary itself,
        is ignored here (validation reports it) rather than producing a
        cluster that Envoy would reject or that loops back on itself.
        """
        failover = self.spec(service, subset).failover
        if failover is None or failover.to is None or failover.to not in self.policyset.services:
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


def attached_routes(policyset: PolicySet, gateway: str) -> list[HTTPRoute]:
    """The HTTPRoutes that name `gateway`, by name."""
    return [
        policyset.routes[name]
        for name in sorted(policyset.routes)
        if gateway in policyset.routes[name].spec.gateways
    ]


def backends_of(routes: Sequence[HTTPRoute]) -> list[Target]:
    """Every (service, subset) the routes send traffic to, zero-weight ones and mirrors included.

    A mirror is named by no backend, yet Envoy refuses a route whose mirror
    cluster it does not know, so the mirror's cluster goes to the proxy too.
    """
    found: dict[Target, None] = {}
    for route in routes:
        for rule in route.spec.rules:
            for backend in rule.backends:
                found[(backend.service, backend.subset)] = None
            if rule.mirror is not None:
                found[(rule.mirror.service, rule.mirror.subset)] = None
    return list(found)


def collector_services(spec: TelemetrySpec) -> list[str]:
    """The Services a gateway with this Telemetry exports to, tracer first."""
    found: dict[str, None] = {}
    tracing = spec.tracing
    collector = tracing.open_telemetry if tracing is not None and not tracing.disabled else None
    if collector is not None and collector.service is not None:
        found[collector.service] = None
    log = spec.access_log
    if log is not None and not log.disabled:
        for sink in log.to or []:
            if sink.open_telemetry is not None:
                found[sink.open_telemetry.service] = None
    return list(found)


def collector_targets(policyset: PolicySet, gateways: Iterable[str]) -> list[Target]:
    """The collectors and rate-limit services of these gateways, as the clusters their proxies
    need; unknown ones left out."""
    found: dict[Target, None] = {}
    for gateway in gateways:
        for service in collector_services(policyset.effective_telemetry(gateway).spec):
            if service in policyset.services:
                found[(service, None)] = None
        limiter = policyset.gateways[gateway].spec.rate_limit_service
        if limiter is not None and limiter in policyset.services:
            found[(limiter, None)] = None
    return list(found)


def group_gateways(policyset: PolicySet, group: Iterable[str]) -> list[str]:
    """The names in `group` that are gateways, sorted; the others are ignored."""
    return sorted(name for name in set(group) if name in policyset.gateways)


def backend_targets(policyset: PolicySet, group: Iterable[str]) -> tuple[Target, ...]:
    """Every (service, subset) the group's proxies send to, in a stable order: what the
    routes of its gateways send to, then the collectors their Telemetry exports to, which
    no route needs to name."""
    gateways = group_gateways(policyset, group)
    attached = {
        route.name: route for name in gateways for route in attached_routes(policyset, name)
    }
    routed = backends_of([attached[name] for name in sorted(attached)])
    collectors = [t for t in collector_targets(policyset, gateways) if t not in routed]
    return (*routed, *collectors)


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


def _cluster(
    policyset: PolicySet, policies: ClusterPolicies, target: Target, memo: Memo
) -> Cluster:
    """Reads the service's document and its level's effective policy."""
    service, subset = target
    document, effective = policyset.services[service], policies.effective(service, subset)
    key = ("cluster", id(document), subset, id(effective))
    return memo.get(key, _make_cluster, document, subset, effective)


def _make_cluster(document: Service, subset: str | None, effective: Effective) -> Cluster:
    target = document.spec.dns_of(subset)
    dns = None if target is None else (target.name, target.port)
    name = cluster_name(document.name, subset)
    return Cluster(name, document.name, subset, document.spec.protocol, dns, effective)


def _endpoints(
    policyset: PolicySet, policies: ClusterPolicies, target: Target, memo: Memo, zone: str | None
) -> Endpoints:
    """Reads the service's document, its drains (`ADDRESS:PORT` keys) and, for the proxies of
    one zone, the zone failover of its level's policy."""
    service, subset = target
    document = policyset.services[service]
    drained = policyset.drained.get(service, frozenset())
    failover = policies.spec(service, subset).failover
    order = None if failover is None or failover.zones is None or zone is None else failover.zones
    key = ("endpoints", id(document), subset, drained, zone if order is not None else None)
    found: Endpoints = memo.get(key, _make_endpoints, document, subset, drained)
    if order is None or zone is None:
        return found
    return Endpoints(
        found.cluster, found.hosts, found.source, zone_priorities(found.hosts, zone, order)
    )


def zone_priorities(
    hosts: Sequence[Host], zone: str, order: Sequence[str]
) -> tuple[tuple[str, int], ...]:
    """Each zone the hosts are in → its priority for proxies in `zone`: that zone first, then
    the zones of `order` in their order, then every other zone (and hosts without one).

    Numbered without gaps from 0, as Envoy needs them: a zone without hosts takes no
    priority, so when the proxy's own zone has none, the next one is priority 0.
    """
    ranks = {zone: 0}
    for index, name in enumerate(order, start=1):
        ranks.setdefault(name, index)
    last = len(order) + 1
    present = sorted({host.zone or "" for host in hosts})
    wanted = {name: ranks.get(name, last) for name in present}
    numbered = {rank: index for index, rank in enumerate(sorted(set(wanted.values())))}
    return tuple((name, numbered[wanted[name]]) for name in present)


def _make_endpoints(document: Service, subset: str | None, drained: frozenset[str]) -> Endpoints:
    """A subset that selects nothing has no hosts."""
    return Endpoints(
        cluster_name(document.name, subset),
        tuple(
            Host(
                e.address,
                e.port,
                bool(drained) and endpoint_key(e.address, e.port) in drained,
                e.zone,
                e.weight or 1,
            )
            for e in document.spec.endpoints_of(subset)
        ),
        document,
    )


def resolve_upstreams(
    policyset: PolicySet,
    backends: Sequence[Target],
    policies: ClusterPolicies,
    memo: Memo,
    zone: str | None = None,
) -> Upstreams:
    """The clusters, failover aggregates and endpoint sets routes to `backends` need.

    They read the set's services, policies and drains, and nothing else: a weight written
    through the API (`PolicySet.with_routes`) keeps the very same mappings, so the whole
    node is found without resolving each cluster again.
    """
    key = (
        "upstreams",
        id(policyset.services),
        id(policyset.policies),
        frozenset(policyset.drained.items()),
        tuple(backends),
        zone,
    )

    def make(*_: Mapping[str, object]) -> Upstreams:
        return _upstreams(policyset, backends, policies, memo, zone)

    return memo.get(key, make, policyset.services, policyset.policies)


def _upstreams(
    policyset: PolicySet,
    backends: Sequence[Target],
    policies: ClusterPolicies,
    memo: Memo,
    zone: str | None,
) -> Upstreams:
    plain, aggregates = reachable_targets(policyset, backends, policies)
    clusters = {cluster_name(*t): _cluster(policyset, policies, t, memo) for t in plain}
    return Upstreams(
        tuple(clusters.values()),
        tuple(
            Aggregate(
                failover_cluster_name(*primary),
                clusters[cluster_name(*primary)],
                cluster_name(*target),
            )
            for primary, target in aggregates
        ),
        tuple(
            _endpoints(policyset, policies, t, memo, zone)
            for t in plain
            if clusters[cluster_name(*t)].dns is None
        ),
    )
