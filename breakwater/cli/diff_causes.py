"""Which differences `breakwater diff` finds are the server's own: what it lays over its YAML.

A weight written through the API, a drained endpoint and a Rollout's
current step are served but are in no directory, so the diff of a directory
shows them as changes. They are not changes the directory would make:
loading it keeps them. The server says which rules carry an override or a
Rollout's step (`/v1/routes`) and which endpoints are drained (`/v1/status`);
`ServerOwn.cause` names the one a changed field comes from, in a phrase.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from breakwater.controlplane.api.config_models import RoutesResponse
    from breakwater.controlplane.api.models import StatusResponse

_WEIGHTED = re.compile(r"routes\[(?P<route>.+)/(?P<rule>\d+)/\d+\]\.route\.weighted_clusters")
"""A field of a rule's weighted clusters, in a route named as `translators.names.route_name`
names it: HTTPROUTE/RULE/MATCH."""

SUMMARY = (
    "{own} of {total} changes are the server's own (API weight overrides, drains, rollout "
    "steps), not the YAML's: loading this directory keeps them"
)


@dataclass(frozen=True)
class ServerOwn:
    rules: Mapping[tuple[str, int], str] = field(default_factory=dict)
    """(HTTPRoute, rule index) → what sets its weights on the server."""
    drains: Mapping[str, str] = field(default_factory=dict)
    """Service → its drained endpoints, in a phrase."""

    def cause(self, resource_type: str, name: str, path: str) -> str | None:
        """What on the server a changed field of a resource comes from, if it is the server's own."""
        from breakwater.translators.names import parse_cluster_name

        if resource_type == "rds":
            match = _WEIGHTED.search(path)
            if match is not None:
                return self.rules.get((match["route"], int(match["rule"])))
        if resource_type == "eds" and path.endswith("health_status"):
            return self.drains.get(parse_cluster_name(name).service)
        return None


def server_own(routes: RoutesResponse, status: StatusResponse) -> ServerOwn:
    """What the server lays over its YAML, from its answers to `routes` and `status`."""
    rules: dict[tuple[str, int], str] = {}
    for route in routes.routes:
        for rule in route.rules:
            label = f"HTTPRoute {route.name} rule {rule.name or rule.index}"
            if rule.rollout is not None:
                rules[(route.name, rule.index)] = (
                    f"the current step of Rollout {rule.rollout} on {label}"
                )
            elif rule.source == "override":
                rules[(route.name, rule.index)] = (
                    f"the server's weight override of {label}, revision {rule.revision}"
                )
    drained: dict[str, list[str]] = {}
    for endpoint in status.drained_endpoints:
        if endpoint.drained:
            drained.setdefault(endpoint.service, []).append(endpoint.endpoint)
    drains = {
        service: f"the server's drain of {service} {', '.join(endpoints)}"
        for service, endpoints in drained.items()
    }
    return ServerOwn(rules, drains)


__all__ = ["SUMMARY", "ServerOwn", "server_own"]
