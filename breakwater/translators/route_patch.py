"""A group's translation again where only route rules changed: their virtual hosts, nothing else.

`route_edits.changed_routes` says when a new PolicySet differs from the one a
group was last translated from by the rules of some routes alone, their
shape unchanged. Then the group's clusters, endpoint sets and listeners are
the ones already built (they read no rule, and the admission and adaptive
concurrency filters a listener carries are compared); each changed route's rules are resolved,
its virtual host encoded, and each route configuration it is on joined
again from its hosts' encoded entries. The cost is the changed routes, plus
joining the bytes of a route configuration, whatever the size of the mesh.
The result is what the whole path gives (`tests/controlplane/test_incremental.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from breakwater.translators.envoy.build import Built, EncodedHost, joined
from breakwater.translators.envoy.encoded import Ref
from breakwater.translators.ir.gateways import route_sampling, traced_routes
from breakwater.translators.ir.memo import Once
from breakwater.translators.ir.nodes import Group, RouteConfiguration, Rule, VirtualHost
from breakwater.translators.ir.routing import adaptive_of, global_limit, resolve_rule, route_host
from breakwater.translators.ir.upstreams import ClusterPolicies, group_gateways
from breakwater.translators.names import gateway_global_limit_key, route_config_name
from breakwater.translators.policyset import PolicySet
from breakwater.translators.route_edits import changed_routes
from breakwater.xds_types import ROUTE_TYPE


@dataclass(frozen=True)
class EncodedHosts:
    """A route configuration's encoded virtual hosts, in order, and where each name is (the
    order never changes while only rules change, so the index is shared)."""

    position: Mapping[str, int]
    hosts: list[EncodedHost]
    entries: list[bytes]
    digests: list[bytes]

    @classmethod
    def of(cls, hosts: list[EncodedHost], names: list[str]) -> EncodedHosts:
        position = {name: index for index, name in enumerate(names)}
        return cls(position, hosts, [host.entry for host in hosts], [host.digest for host in hosts])


@dataclass(frozen=True)
class Translated:
    """A gateway set's translation: the set it came from, its IR, its resources, and the
    encoded virtual hosts of each route configuration (by configuration, then host name)."""

    policyset: PolicySet
    gateways: frozenset[str]
    group: Group
    built: Built
    hosts: Mapping[str, EncodedHosts]
    pieces: int = 0
    """Virtual hosts translated again to make it from the last translation."""


def _listener_filters(host: VirtualHost) -> list[tuple[str, object]]:
    """What a host's rules add to its gateway's listener (compared by value): admission
    control and adaptive concurrency filters."""
    return [
        (rule.admission, rule.policy.spec.circuit_breaker)
        for rule in host.rules
        if rule.admission is not None and rule.policy.spec.circuit_breaker is not None
    ] + [
        (rule.adaptive, adaptive_of(rule.policy))
        for rule in host.rules
        if rule.adaptive is not None
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
        current = hosts_of[configuration.name]
        limit = global_limit(
            gateway_global_limit_key(gateway), policyset.gateways[gateway].spec.rate_limit
        )
        hosts, encoded, entries, digests = (
            list(configuration.hosts),
            list(current.hosts),
            list(current.entries),
            list(current.digests),
        )
        same_refs = True
        new_hosts: dict[str, VirtualHost] = {}
        for name in mine:
            at = current.position.get(name)
            if at is None:
                return None
            old = hosts[at]
            route = policyset.routes[name]
            rules: tuple[Rule, ...] = tuple(
                resolve_rule(policyset, policies, route, i, once)
                for i in range(len(route.spec.rules))
            )
            sampling = route_sampling(policyset, gateway, name, traced) if traced else None
            host = route_host(
                route, rules, sampling, old.gateway_levels, old.adaptive_levels, limit, once
            )
            if _listener_filters(host) != _listener_filters(old):
                return None  # the listener's filters change: the whole path
            entry = EncodedHost(host)
            same_refs = same_refs and entry.refs == encoded[at].refs
            hosts[at], encoded[at], new_hosts[name] = host, entry, host
            entries[at], digests[at] = entry.entry, entry.digest
        configurations[index] = RouteConfiguration(configuration.name, tuple(hosts))
        before = resources[index]
        if same_refs:
            resources[index] = joined(configuration.name, entries, digests, before.refs, before)
        else:
            refs: frozenset[Ref] = frozenset().union(*(h.refs for h in encoded))
            resources[index] = joined(configuration.name, entries, digests, refs)
        hosts_of[configuration.name] = EncodedHosts(current.position, encoded, entries, digests)
        rebuilt.append(new_hosts)
    group = Group(last.group.listeners, tuple(configurations), last.group.upstreams)
    built = {**last.built, ROUTE_TYPE: resources}
    pieces = sum(len(hosts) for hosts in rebuilt)
    return Translated(policyset, last.gateways, group, built, hosts_of, pieces)


__all__ = ["EncodedHosts", "Translated", "patched"]
