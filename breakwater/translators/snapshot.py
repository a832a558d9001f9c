"""A PolicySet → the Envoy resources of one node group.

Proxies are grouped by the gateways their node selects, and translation runs
once per group, not once per proxy: a thousand edge proxies with the same
node cluster cost one translation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from breakwater.translators.admission import gateway_filters
from breakwater.translators.clusters import (
    ClusterPolicies,
    Target,
    clusters_for,
    reachable_targets,
)
from breakwater.translators.endpoints import load_assignment
from breakwater.translators.listeners import listener
from breakwater.translators.policyset import PolicySet
from breakwater.translators.routes import attached_routes, backends_of, route_configuration
from breakwater.translators.telemetry import collector_targets
from breakwater.xds_types import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
)

TYPE_URLS = PUSH_ORDER
"""In make-before-break order: CDS, EDS, LDS, RDS."""

CONFIG_DUMP_KEYS: Mapping[str, str] = {
    CLUSTER_TYPE: "clusters",
    ENDPOINT_TYPE: "endpoints",
    LISTENER_TYPE: "listeners",
    ROUTE_TYPE: "routes",
}

Resources = dict[str, list[Message]]
"""Type URL → resources of that type, sorted by name; every type URL is present."""


def node_group(
    policyset: PolicySet, node_cluster: str, node_metadata: Mapping[str, str]
) -> frozenset[str]:
    """The gateways a proxy serves; a gateway without a nodeSelector is served by every proxy."""
    metadata = dict(node_metadata)
    return frozenset(
        name
        for name, gateway in policyset.gateways.items()
        if gateway.spec.node_selector is None
        or gateway.spec.node_selector.matches(node_cluster, metadata)
    )


def translate(policyset: PolicySet, group: Iterable[str]) -> Resources:
    """Listeners and route configurations of the group's gateways, and the clusters they reach.

    Clusters and endpoints cover the backends of every route attached to those
    gateways, zero-weight backends and failover targets included, so a weight
    change never has to add a cluster before the route can use it. Names in
    `group` that are not gateways are ignored.
    """
    policies = ClusterPolicies(policyset)
    resources = translate_routing(policyset, group)
    backends = list(backend_targets(policyset, group))
    clusters: list[Message] = list(clusters_for(policyset, backends, policies))
    plain, _ = reachable_targets(policyset, backends, policies)
    endpoints: list[Message] = [
        load_assignment(
            policyset.services[service], subset, policyset.drained.get(service, frozenset())
        )
        for service, subset in plain
        if policyset.services[service].spec.dns is None
    ]
    resources[CLUSTER_TYPE] = clusters
    resources[ENDPOINT_TYPE] = endpoints
    return resources


def backend_targets(policyset: PolicySet, group: Iterable[str]) -> tuple[Target, ...]:
    """Every (service, subset) the group's proxies send to, in a stable order: what the
    routes of its gateways send to, then the collectors their Telemetry exports to, which
    no route needs to name."""
    gateways = sorted(name for name in set(group) if name in policyset.gateways)
    attached = {
        route.name: route for name in gateways for route in attached_routes(policyset, name)
    }
    routed = backends_of([attached[name] for name in sorted(attached)])
    collectors = [t for t in collector_targets(policyset, gateways) if t not in routed]
    return (*routed, *collectors)


def translate_routing(policyset: PolicySet, group: Iterable[str]) -> Resources:
    """Only the listeners and route configurations of `translate`, clusters left empty.

    All a weight change can alter: when the services, the policies and the set
    of backends are unchanged, the clusters and endpoints translated before are
    still exact (the server's snapshot builder takes them whole then).
    """
    gateways = sorted(name for name in set(group) if name in policyset.gateways)
    policies = ClusterPolicies(policyset)
    return {
        CLUSTER_TYPE: [],
        ENDPOINT_TYPE: [],
        LISTENER_TYPE: [
            listener(
                policyset,
                policyset.gateways[name],
                gateway_filters(policyset, [r.name for r in attached_routes(policyset, name)]),
            )
            for name in gateways
        ],
        ROUTE_TYPE: [route_configuration(policyset, name, policies) for name in gateways],
    }


_KEYS_FIRST = {"@type": 0, "name": 1, "cluster_name": 1}


def _key_order(key: str) -> tuple[int, str]:
    return (_KEYS_FIRST.get(key, 2), key)


def _plain(value: Any) -> Any:
    """Plain dicts with sorted keys, and lists.

    Protobuf walks map fields (and Struct, as in the access log format) in an
    order that changes from one process to the next, so keys are sorted to
    make the dump byte-stable; what a resource is comes first. Protobuf also
    hands back OrderedDicts for `Any`, which YAML refuses.
    """
    if isinstance(value, Mapping):
        return {str(k): _plain(value[k]) for k in sorted(value, key=_key_order)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_config_dump(resources: Mapping[str, list[Message]]) -> dict[str, list[dict[str, Any]]]:
    """Proto3 JSON with snake_case names, as Envoy prints its own config dump, keys sorted."""
    return {
        key: [
            _plain(json_format.MessageToDict(message, preserving_proto_field_name=True))
            for message in resources.get(type_url, [])
        ]
        for type_url, key in CONFIG_DUMP_KEYS.items()
    }
