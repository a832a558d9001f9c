"""A PolicySet → what proxyless gRPC clients are served: one API listener per service.

A gRPC client dialing `xds:///payments` asks LDS for `payments` and nothing
else, so every service served to proxyless clients (`served_proxyless`) gets
a listener of its own name, whether or not a route is attached to it: the
Gateway API's mesh profile (GAMMA) says that without a route the whole
Service is the target. Routes attached to the service (`spec.services`,
from Breakwater's dialect or a GAMMA parentRef) come first, in route name
and rule order; a last route sends everything else to the whole service.

The clusters cover every subset of every such service and every backend of
the attached routes, so a weight change or a rollout's header stage never
has to add a cluster first (a gRPC client subscribes to a cluster only once
a route names it).
"""

from __future__ import annotations

from breakwater.translators.ir.memo import Memo, Once
from breakwater.translators.ir.nodes import MeshGroup, MeshListener, MeshRoutes
from breakwater.translators.ir.routing import resolve_rule
from breakwater.translators.ir.upstreams import ClusterPolicies, backends_of, resolve_upstreams
from breakwater.translators.names import Target, cluster_name, mesh_route_config_name
from breakwater.translators.policyset import PolicySet
from breakwater.translators.route_model import HTTPRoute


def proxyless_services(policyset: PolicySet) -> list[str]:
    """The services gRPC clients may dial, by name."""
    return sorted(
        name for name, service in policyset.services.items() if service.spec.served_proxyless
    )


def mesh_routes(policyset: PolicySet, service: str) -> list[HTTPRoute]:
    """The routes attached to a service, by name."""
    return [
        policyset.routes[name]
        for name in sorted(policyset.routes)
        if service in policyset.routes[name].spec.services
    ]


def resolve_mesh(policyset: PolicySet, memo: Memo | None = None) -> MeshGroup:
    memo = memo or Once()
    policies = ClusterPolicies(policyset)
    listeners: list[MeshListener] = []
    configurations: list[MeshRoutes] = []
    targets: dict[Target, None] = {}
    for service in proxyless_services(policyset):
        attached = mesh_routes(policyset, service)
        rules = tuple(
            resolve_rule(policyset, policies, route, index, memo)
            for route in attached
            for index in range(len(route.spec.rules))
        )
        name = mesh_route_config_name(service)
        configurations.append(
            MeshRoutes(
                name,
                service,
                rules,
                policies.routed_cluster_name(service, None),
                policies.effective(service, None),
            )
        )
        listeners.append(MeshListener(service, name, any(r.fault is not None for r in rules)))
        targets[(service, None)] = None
        for subset in policyset.services[service].spec.subsets:
            targets[(service, subset.name)] = None
        for target in backends_of(attached):
            targets[target] = None
    ordered = tuple(sorted(targets, key=lambda t: cluster_name(*t)))
    upstreams = resolve_upstreams(policyset, ordered, policies, memo)
    return MeshGroup(tuple(listeners), tuple(configurations), upstreams)


__all__ = ["mesh_routes", "proxyless_services", "resolve_mesh"]
