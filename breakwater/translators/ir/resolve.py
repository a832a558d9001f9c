"""A PolicySet and a node group → the group's IR: the one entry of the Breakwater front end.

Both dialects arrive here as one PolicySet (the Gateway API's documents are
converted into Breakwater's model when read, `gateway_api.convert`), so this
is where every policy question is answered for the Envoy translators.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from breakwater.translators.ir.gateways import resolve_listener
from breakwater.translators.ir.memo import Memo, Once
from breakwater.translators.ir.nodes import Group, Listener, LocalCluster, RouteConfiguration
from breakwater.translators.ir.routing import resolve_route_configuration
from breakwater.translators.ir.upstreams import (
    ClusterPolicies,
    backend_targets,
    group_gateways,
    resolve_upstreams,
)
from breakwater.translators.names import LOCAL_CLUSTER
from breakwater.translators.policyset import PolicySet


def resolve(
    policyset: PolicySet,
    group: Iterable[str],
    memo: Memo | None = None,
    zone: str | None = None,
    local: Sequence[tuple[str, int]] = (),
) -> Group:
    """Listeners and route configurations of the group's gateways, and the upstreams they reach.

    Clusters and endpoint sets cover the backends of every route attached to
    those gateways, zero-weight backends and failover targets included, so a
    weight change never has to add a cluster before the route can use it.
    Names in `group` that are not gateways are ignored. `memo` holds the nodes
    resolved by the builds before (none: everything is resolved, nothing kept). `zone` is
    the zone of the group's proxies (their failover priorities start there), and `local`
    counts the proxies of their node cluster by zone (their local cluster).
    """
    memo = memo or Once()
    policies = ClusterPolicies(policyset)
    gateways = group_gateways(policyset, group)
    listeners: list[Listener] = []
    routes: list[RouteConfiguration] = []
    for gateway in gateways:
        configuration, admission, adaptive = resolve_route_configuration(
            policyset, policies, gateway, memo
        )
        routes.append(configuration)
        listeners.append(resolve_listener(policyset, gateway, admission, adaptive))
    targets = backend_targets(policyset, gateways)
    upstreams = resolve_upstreams(policyset, targets, policies, memo, zone)
    found = LocalCluster(LOCAL_CLUSTER, tuple(sorted(local))) if zone is not None else None
    return Group(tuple(listeners), tuple(routes), upstreams, found)
