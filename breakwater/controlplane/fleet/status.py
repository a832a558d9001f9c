"""Per-policy and per-service status: who holds a policy, and what it is doing now.

"Holds" comes from the xDS streams: a proxy is in a policy's scope when its
snapshot carries one of the clusters or route configurations the policy
shapes, and then the policy is

* `applied` when the proxy acknowledged the current version of every type
  the policy touches (CDS for cluster settings, RDS for retries and timeouts),
* `rejected` when the proxy NACKed one of those types and Envoy's message
  names one of the policy's resources (or names none of ours, when Envoy does
  not say which resource it refused),
* `pending` otherwise: sent and not acknowledged yet, or held back by
  make-before-break.

"Doing" comes from the fleet's own numbers (`FleetStats`) for the clusters
in the policy's scope. The answers are the fleet's own values (`views`), which
the API turns into its models.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from breakwater.controlplane.fleet.aggregate import FleetStats, summarize
from breakwater.controlplane.fleet.contract import RATE_WINDOW_SECONDS
from breakwater.controlplane.fleet.reports import DETECTORS, EJECTIONS_BY
from breakwater.controlplane.fleet.views import (
    POLICY_PROXY_STATES,
    DetectorEjectionsView,
    EndpointLoadView,
    LiveEffectView,
    PolicyProxyState,
    PolicyStatusView,
    ProxyPolicyView,
    ServiceHealthView,
)
from breakwater.controlplane.groups import ProxylessKey, group_label
from breakwater.controlplane.xds.status import StreamStatus, TypeStatus
from breakwater.translators.names import cluster_name
from breakwater.translators.policyset import PolicySet
from breakwater.translators.proxyless import policy_gaps
from breakwater.translators.scope import PolicyScope, policy_scopes
from breakwater.xds_types import CLUSTER_TYPE, ROUTE_TYPE


class PolicyNotFound(LookupError):
    """No valid ResiliencePolicy of that name is being served."""


def _policy_state(
    stream: StreamStatus, scope: PolicyScope, types: Sequence[str], known: frozenset[str]
) -> tuple[PolicyProxyState, str]:
    """`known`: every resource name the proxy's snapshot carries, to read NACK texts against."""
    statuses: list[TypeStatus] = [stream.types[t] for t in types if t in stream.types]
    if len(statuses) < len(types):
        return "pending", ""
    ours = scope.clusters | scope.route_configs
    for status in statuses:
        if status.state == "nacked":
            message = status.nack_message
            named = _names_in(message) & known
            if not named or named & ours:
                return "rejected", message
    if all(s.state == "synced" for s in statuses):
        return "applied", ""
    if all(s.state in ("synced", "nacked") for s in statuses):
        # Envoy refused another resource of the same type and applied the rest.
        return "applied", ""
    return "pending", ""


def _names_in(message: str) -> set[str]:
    """Resource names quoted or listed in an Envoy NACK message (best effort)."""
    names: set[str] = set()
    for quote in ("'", '"'):
        parts = message.split(quote)
        names.update(parts[1::2])
    for word in message.replace(",", " ").replace(":", " ").split():
        names.add(word)
    return names


def effect_of(
    fleet: FleetStats,
    policyset: PolicySet,
    targets: Iterable[tuple[str, str | None]],
    now: float,
) -> list[LiveEffectView]:
    out = []
    totals = fleet.totals()
    for service, subset in sorted(targets, key=lambda t: (t[0], t[1] or "")):
        cluster = cluster_name(service, subset)
        hosts = fleet.hosts(cluster, now)
        window = fleet.recent([cluster], now, RATE_WINDOW_SECONDS)
        recent = summarize(window, RATE_WINDOW_SECONDS)
        total = totals.get(cluster)
        counters = total.counters if total is not None else {}
        bulkhead = policyset.effective_for_cluster(service, subset).spec.bulkhead
        causes = fleet.causes(cluster, now, RATE_WINDOW_SECONDS)
        out.append(
            LiveEffectView(
                service=service,
                subset=subset,
                cluster=cluster,
                hosts=hosts.hosts if hosts else None,
                hosts_healthy=hosts.healthy if hosts else None,
                hosts_ejected=hosts.ejected if hosts else None,
                proxies_reporting=hosts.proxies if hosts else 0,
                proxies_ejecting=hosts.proxies_ejecting if hosts else 0,
                requests_active=hosts.requests_active if hosts else 0,
                requests_pending=hosts.requests_pending if hosts else 0,
                busiest_proxy_active=hosts.busiest_active if hosts else 0,
                concurrency_limit=bulkhead.max_concurrent_requests if bulkhead else None,
                ejections_total=counters.get("ejections", 0),
                retries_total=counters.get("retries", 0),
                bulkhead_rejections_total=counters.get("bulkhead_rejections", 0),
                timeouts_total=counters.get("timeouts", 0),
                requests_total=sum(total.responses.values()) if total is not None else 0,
                requests_per_second=recent.per_second,
                retries_per_second=recent.retries_per_second,
                error_percent=recent.error_percent,
                p50_ms=recent.p50_ms,
                p95_ms=recent.p95_ms,
                p99_ms=recent.p99_ms,
                window_seconds=RATE_WINDOW_SECONDS,
                endpoints=tuple(
                    EndpointLoadView(
                        address=address,
                        succeeded=load.succeeded,
                        failed=load.failed,
                        in_flight=load.in_flight,
                    )
                    for address, load in sorted(window.endpoints.items())
                ),
                ejections_by_detector=tuple(
                    DetectorEjectionsView(
                        detector=detector,
                        total=counters.get(EJECTIONS_BY + detector, 0),
                        recent=causes.detectors.get(detector, (0, 0))[0],
                        proxies=causes.detectors.get(detector, (0, 0))[1],
                    )
                    for detector in DETECTORS
                    if counters.get(EJECTIONS_BY + detector) or detector in causes.detectors
                ),
                failing_hosts=causes.hosts,
            )
        )
    return out


def _target_text(policyset: PolicySet, name: str) -> str:
    ref = policyset.policies[name].spec.target_ref
    if ref is None:
        return "fleet default"
    return ref.name if ref.subset is None else f"{ref.name}/{ref.subset}"


def policy_statuses(
    policyset: PolicySet,
    streams: Sequence[StreamStatus],
    resources_of: Callable[[Hashable], tuple[frozenset[str], frozenset[str]]],
    fleet: FleetStats,
    now: float,
    *,
    names: Iterable[str] | None = None,
    with_effect: bool = True,
) -> list[PolicyStatusView]:
    """Status of each policy (or of those `names`), from the streams and the fleet's numbers.

    `resources_of(group)` gives the cluster and route-configuration names that
    group's snapshot carries.
    """
    scopes = policy_scopes(policyset)
    wanted = sorted(scopes) if names is None else [n for n in names if n in scopes]
    held: dict[Hashable, tuple[frozenset[str], frozenset[str]]] = {}
    out = []
    for name in wanted:
        scope = scopes[name]
        types = ([CLUSTER_TYPE] if scope.clusters else []) + (
            [ROUTE_TYPE] if scope.route_configs else []
        )
        per_proxy: list[ProxyPolicyView] = []
        for stream in streams:
            if stream.group not in held:
                held[stream.group] = resources_of(stream.group)
            clusters, route_configs = held[stream.group]
            if not (scope.clusters & clusters or scope.route_configs & route_configs):
                continue
            state, message = _policy_state(stream, scope, types, clusters | route_configs)
            per_proxy.append(
                ProxyPolicyView(
                    node_id=stream.node_id,
                    group=group_label(stream.group),
                    state=state,
                    message=message,
                )
            )
        proxyless = sum(
            1
            for stream in streams
            if isinstance(stream.group, ProxylessKey) and scope.clusters & held[stream.group][0]
        )
        counts: dict[PolicyProxyState, int] = dict.fromkeys(POLICY_PROXY_STATES, 0)
        for entry in per_proxy:
            counts[entry.state] += 1
        out.append(
            PolicyStatusView(
                name=name,
                target=_target_text(policyset, name),
                clusters=sorted(scope.clusters),
                route_configs=sorted(scope.route_configs),
                proxies=counts,
                rejections=[p for p in per_proxy if p.state == "rejected"],
                per_proxy=per_proxy,
                effect=effect_of(fleet, policyset, scope.targets, now) if with_effect else [],
                not_applied=_not_applied(policyset, name, proxyless),
            )
        )
    return out


def _not_applied(policyset: PolicySet, name: str, clients: int) -> list[str]:
    """The policy's own fields that the proxyless clients holding it cannot carry out."""
    if not clients:
        return []
    plural = "client" if clients == 1 else "clients"
    return [
        f"not applied on {clients} proxyless {plural}: {gap.field}: {gap.note()}"
        for gap in policy_gaps(policyset.policies[name].spec)
    ]


def service_health(policyset: PolicySet, fleet: FleetStats, now: float) -> list[ServiceHealthView]:
    targets = [
        (name, subset)
        for name, service in sorted(policyset.services.items())
        for subset in (None, *(s.name for s in service.spec.subsets))
    ]
    return [
        ServiceHealthView(
            service=e.service,
            subset=e.subset,
            hosts=e.hosts,
            hosts_healthy=e.hosts_healthy,
            hosts_ejected=e.hosts_ejected,
            requests_per_second=e.requests_per_second,
            error_percent=e.error_percent,
            p99_ms=e.p99_ms,
        )
        for e in effect_of(fleet, policyset, targets, now)
        if e.proxies_reporting or e.requests_total
    ]
