"""Where each ResiliencePolicy lands: the Envoy clusters and route configurations it shapes.

A policy reaches a cluster when at least one effective field of that cluster
came from it (a fleet default overridden everywhere reaches nothing), and a
route configuration when it set an effective retry or timeout of one of that
gateway's rules. Status uses this to tell which proxies hold a policy and
which of the fleet's numbers describe what it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from breakwater.translators.names import cluster_name, failover_cluster_name, route_config_name
from breakwater.translators.policyset import PolicySet

POLICY_PREFIX = "ResiliencePolicy/"


@dataclass
class PolicyScope:
    """What one policy shapes, by Envoy resource name."""

    clusters: set[str] = field(default_factory=set)
    """Clusters (`service`, `service|subset`) with a field this policy set, and the
    aggregate cluster of a failover it declared."""
    route_configs: set[str] = field(default_factory=set)
    """Route configurations (one per gateway) with a retry or timeout this policy set."""
    targets: set[tuple[str, str | None]] = field(default_factory=set)
    """The (service, subset) pairs of those clusters, for reading the fleet's numbers."""


def policy_scopes(policyset: PolicySet) -> Mapping[str, PolicyScope]:
    """Every policy's scope, keyed by policy name (policies that reach nothing included)."""
    scopes = {name: PolicyScope() for name in policyset.policies}
    for service_name, service in policyset.services.items():
        for subset in (None, *(s.name for s in service.spec.subsets)):
            effective = policyset.effective_for_cluster(service_name, subset)
            for path, who in effective.provenance.items():
                scope = scopes.get(who.removeprefix(POLICY_PREFIX))
                if scope is None or not who.startswith(POLICY_PREFIX):
                    continue
                scope.clusters.add(cluster_name(service_name, subset))
                scope.targets.add((service_name, subset))
                if path[0] == "failover":
                    scope.clusters.add(failover_cluster_name(service_name, subset))
    for route_name, route in policyset.routes.items():
        for index, _ in enumerate(route.spec.rules):
            effective = policyset.effective_for_rule(route_name, index)
            for who in set(effective.provenance.values()):
                scope = scopes.get(who.removeprefix(POLICY_PREFIX))
                if scope is not None and who.startswith(POLICY_PREFIX):
                    scope.route_configs.update(route_config_name(g) for g in route.spec.gateways)
    return scopes
