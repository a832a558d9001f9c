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

Which routes share a virtual host is worked out on names and hostnames
(`share_hostnames`, for the IR); the sort key is read from Envoy's own
matchers (`precedence`), so it needs nothing else of the route model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from envoy.config.route.v3 import route_components_pb2

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


def share_hostnames(
    hosts: Sequence[tuple[str, Sequence[str]]], rank: Mapping[str, int]
) -> list[tuple[list[str], list[str]]]:
    """The virtual hosts that routes sharing hostnames make: (routes, hostnames) each.

    `hosts` are (route, its hostnames) pairs; `rank` gives each route's place
    in the tie-break order, which is the order of each group's routes. A
    hostname served by one route is that route's alone; one served by several
    goes to a virtual host of all of them, whose rules are then sorted by
    `precedence` (a stable sort keeps the tie-break order).
    """
    ordered = sorted(hosts, key=lambda h: (rank.get(h[0], len(rank)), h[0]))
    serving: dict[str, list[int]] = {}
    for position, (_, domains) in enumerate(ordered):
        for domain in domains:
            serving.setdefault(domain, []).append(position)
    groups: dict[tuple[int, ...], list[str]] = {}
    for domain, positions in serving.items():
        groups.setdefault(tuple(positions), []).append(domain)
    return [([ordered[p][0] for p in group], domains) for group, domains in groups.items()]
