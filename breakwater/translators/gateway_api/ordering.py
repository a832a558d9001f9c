"""The Gateway API's match precedence, over every route that serves one hostname.

Breakwater's own routes keep the order their rules are written in, and each
hostname has one route. The Gateway API lets several routes share a
hostname and orders their rules by what they match, not where they are
written: an exact path first, then the longest path prefix, then a method
match, then the most header matches, then the most query parameter
matches; ties go to the oldest route, then by namespace and name, then by
rule order. Envoy takes the first route that matches, so the routes of a
hostname are merged into one virtual host and sorted by that key (a stable
sort keeps the tie-break order in which the routes are handed in).

It works on the Envoy virtual hosts each route became, reading the key from
Envoy's own matchers, so it needs nothing else of the route model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from envoy.config.route.v3 import route_components_pb2
from envoy.config.route.v3.route_components_pb2 import VirtualHost

METHOD_HEADER = ":method"


def precedence(route: route_components_pb2.Route) -> tuple[int, int, int, int, int]:
    """Smaller sorts first: exact path, regex, then the longest prefix; method; headers; queries."""
    match = route.match
    which = match.WhichOneof("path_specifier")
    if which == "path":
        kind, length = 0, 0
    elif which == "safe_regex":
        kind, length = 1, 0
    else:
        kind, length = 2, -len(match.prefix or match.path_separated_prefix)
    method = 0 if any(h.name == METHOD_HEADER for h in match.headers) else 1
    headers = sum(1 for h in match.headers if h.name != METHOD_HEADER)
    return (kind, length, method, -headers, -len(match.query_parameters))


def merge_by_precedence(hosts: Sequence[VirtualHost], rank: Mapping[str, int]) -> list[VirtualHost]:
    """One virtual host per set of routes that share hostnames, its routes in precedence order.

    `hosts` are the virtual hosts of single routes, named after them; `rank`
    gives each route's place in the tie-break order. A hostname served by one
    route keeps that route's virtual host name; one served by several gets
    their names joined with `+`, so every virtual host name stays unique.
    """
    ordered = sorted(hosts, key=lambda h: (rank.get(h.name, len(rank)), h.name))
    serving: dict[str, list[int]] = {}
    for position, host in enumerate(ordered):
        for domain in host.domains:
            serving.setdefault(domain, []).append(position)
    groups: dict[tuple[int, ...], list[str]] = {}
    for domain, positions in serving.items():
        groups.setdefault(tuple(positions), []).append(domain)
    merged: list[VirtualHost] = []
    for group, domains in groups.items():
        members = [ordered[p] for p in group]
        host = VirtualHost(name="+".join(m.name for m in members), domains=domains)
        if len(members) == 1:
            host.typed_per_filter_config.MergeFrom(members[0].typed_per_filter_config)
        routes = [route for member in members for route in member.routes]
        host.routes.extend(sorted(routes, key=precedence))
        merged.append(host)
    return sorted(merged, key=lambda h: h.name)
