"""A group's translation again where only route rules changed: their virtual hosts, nothing else.

`route_edits.changed_routes` says when a new PolicySet differs from the one a
group was last translated from by the rules of some routes alone, their
shape unchanged. Then the group's clusters, endpoint sets and listeners are
the ones already built (they read no rule, and the admission filters a
listener carries are compared); each changed route's rules are resolved,
its virtual host encoded, and each route configuration it is on joined
again from its hosts' encoded entries. The cost is the changed routes, plus
joining the bytes of a route configuration, whatever the size of the mesh.
The result is what the whole path gives (`tests/controlplane/test_incremental.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from breakwater.translators.envoy.build import Built, EncodedHost, joined
from breakwater.translators.ir.gateways import route_sampling, traced_routes
from breakwater.translators.ir.memo import Once
from breakwater.translators.ir.nodes import Group, RouteConfiguration, Rule, VirtualHost
from breakwater.translators.ir.routing import resolve_rule, route_host
from breakwater.translators.ir.upstreams import ClusterPolicies, group_gateways
from breakwater.translators.names import route_config_name
from breakwater.translators.policyset import PolicySet
from breakwater.translators.route_edits import changed_routes
from breakwater.xds_types import ROUTE_TYPE


@dataclass(frozen=True)
class Translated:
    """A gateway set's translation: the set it came from, its IR, its resources, and the
    encoded virtual hosts of each route configuration (by configuration, then host name)."""

    policyset: PolicySet
    gateways: frozenset[str]
    group: Group
    built: Built
    hosts: Mapping[str, Mapping[str, EncodedHost]]
    pieces: int = 0
    """Virtual hosts translated again to make it from the last translation."""


def _admission(host: VirtualHost) -> list[tuple[str, object]]:
    """What a host's rules add to its gateway's listener (compared by value)."""
    return [
        (rule.admission, rule.policy.spec.circuit_breaker)
        for rule in host.rules
        if rule.admission is not None and rule.policy.spec.circuit_breaker is not None
    ]


def patched(last: Translated, policyset: PolicySet) -> Translated | None:
    """`last` translated again for `policyset`, visiting only the changed routes; None when
    more than route rules changed (then the whole path runs)."""
    changed = changed_routes(last.policyset, policyset)
    if changed is None:
        return None
    policies = ClusterPolicies(policyset)
    traced = traced_routes(policyset)
    once = Once()
    configurations = list(last.group.routes)
    resources = list(last.built[ROUTE_TYPE])
    hosts_of = dict(last.hosts)
    rebuilt: list[dict[str, VirtualHost]] = []
    for gateway in group_gateways(policyset, last.gateways):
        mine = [name for name in changed if gateway in policyset.routes[name].spec.gateways]
        if not mine:
            continue
        index = next(
            (i for i, c in enumerate(configurations) if c.name == route_config_name(gateway)),
            None,
        )
        if index is None:
            return None
        configuration = configurations[index]
        old_hosts = {host.name: host for host in configuration.hosts}
        encoded = dict(hosts_of[configuration.name])
        same_refs = True
        new_hosts: dict[str, VirtualHost] = {}
        for name in mine:
            old = old_hosts.get(name)
            if old is None:
                return None
            route = policyset.routes[name]
            rules: tuple[Rule, ...] = tuple(
                resolve_rule(policyset, policies, route, i, once)
                for i in range(len(route.spec.rules))
            )
            sampling = route_sampling(policyset, gateway, name, traced) if traced else None
            host = route_host(route, rules, sampling, old.gateway_levels, once)
            if _admission(host) != _admission(old):
                return None  # the listener's admission filters change: the whole path
            new_hosts[name] = host
            entry = EncodedHost(host)
            same_refs = same_refs and entry.refs == encoded[name].refs
            encoded[name] = entry
        joined_hosts = tuple(new_hosts.get(h.name, h) for h in configuration.hosts)
        configurations[index] = RouteConfiguration(configuration.name, joined_hosts)
        refs = resources[index].refs if same_refs else None
        resources[index] = joined(configuration.name, [encoded[h.name] for h in joined_hosts], refs)
        hosts_of[configuration.name] = encoded
        rebuilt.append(new_hosts)
    group = Group(last.group.listeners, tuple(configurations), last.group.upstreams)
    built = {**last.built, ROUTE_TYPE: resources}
    pieces = sum(len(hosts) for hosts in rebuilt)
    return Translated(policyset, last.gateways, group, built, hosts_of, pieces)


__all__ = ["Translated", "patched"]
