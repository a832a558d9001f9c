"""PolicySet → Snapshot, re-translating only the resources whose inputs changed.

`translate` (the translators' one full path) rebuilds and re-encodes every
resource; at 10 000 services that is seconds for a one-line edit. The
builder here keeps each resource's encoded form keyed by what it is made
from, as object identities: the policy reader hands back the very document
objects of unchanged files, and merges are memoized per set of layer
objects, so an unchanged service, policy or route is the same object in
the next PolicySet. A key holds its objects (`_Same`), so an identity in a
key can never be taken over by another object while the entry lives.

A RouteConfiguration is assembled from the encoded bytes of its virtual
hosts (protobuf lets the entries of a repeated field be concatenated), so
one changed route costs one virtual host, not one per route of the gateway.
The result is byte for byte what `Snapshot.from_messages(translate(...))`
gives; `tests/controlplane/test_incremental.py` checks that after every step
of random edits.

Each build starts a generation: what it did not use is forgotten at the
next, so the cache holds about one snapshot's worth of pieces per gateway
set. Not thread-safe: the reconciler builds one snapshot at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from envoy.config.route.v3 import route_components_pb2, route_pb2
from google.protobuf.message import Message

from breakwater.controlplane.xds.resources import (
    Ref,
    Resource,
    Snapshot,
    encode_bytes_field,
    references,
)
from breakwater.translators.admission import gateway_filters
from breakwater.translators.clusters import (
    ClusterPolicies,
    Target,
    failover_cluster,
    reachable_targets,
    upstream_cluster,
)
from breakwater.translators.endpoints import load_assignment
from breakwater.translators.listeners import listener
from breakwater.translators.model import ResiliencePolicy, Service
from breakwater.translators.names import cluster_name, failover_cluster_name, route_config_name
from breakwater.translators.policyset import DrainedEndpoints, PolicySet
from breakwater.translators.route_model import HTTPRoute
from breakwater.translators.routes import (
    attached_routes,
    route_configuration,
    virtual_host,
    virtual_host_inputs,
)
from breakwater.translators.snapshot import backend_targets
from breakwater.translators.telemetry import route_tracing_of, traced_routes
from breakwater.xds_types import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE

T = TypeVar("T")
_VIRTUAL_HOSTS = route_pb2.RouteConfiguration.DESCRIPTOR.fields_by_name["virtual_hosts"].number


class _Same:
    """An object in a cache key, compared by identity and kept alive by the key."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


def _key(*parts: object) -> tuple[Hashable, ...]:
    """Strings, bytes, numbers, None and frozensets as they are, tuples part by part, and
    every other object by identity."""
    return tuple(
        _key(*part)
        if isinstance(part, tuple)
        else part
        if isinstance(part, str | bytes | int | frozenset | type(None))
        else _Same(part)
        for part in parts
    )


class _EncodedHost:
    """One virtual host, serialized as a `RouteConfiguration.virtual_hosts` entry."""

    __slots__ = ("entry", "refs")

    def __init__(self, host: Message) -> None:
        self.entry = encode_bytes_field(_VIRTUAL_HOSTS, host.SerializeToString(deterministic=True))
        self.refs = references(route_pb2.RouteConfiguration(virtual_hosts=[host]))


@dataclass(frozen=True)
class _Upstreams:
    """A gateway set's clusters and endpoints, and what they were made from."""

    services: Mapping[str, Service]
    policies: Mapping[str, ResiliencePolicy]
    drained: DrainedEndpoints
    backends: tuple[Target, ...]
    clusters: list[Resource]
    endpoints: list[Resource]
    keys: list[Hashable]
    """The cache entries of those resources."""


class SnapshotBuilder:
    """Snapshots of gateway sets, from cached pieces wherever their inputs are the same objects."""

    def __init__(self) -> None:
        self._earlier: dict[Hashable, object] = {}
        self._now: dict[Hashable, object] = {}
        self._upstreams: dict[frozenset[str], _Upstreams] = {}
        """Each gateway set's last clusters and endpoints; only the sets built in the last
        generation are kept."""
        self._groups: set[frozenset[str]] = set()
        self.built = 0
        """Pieces (resources, virtual hosts) translated so far; the rest came from the cache."""

    def next_generation(self) -> None:
        """Start a build: pieces the last build did not use are dropped after this one."""
        if self._now:
            self._earlier, self._now = self._now, {}
            self._upstreams = {g: u for g, u in self._upstreams.items() if g in self._groups}
            self._groups = set()

    def _get(self, key: Hashable, make: Callable[[], T]) -> T:
        found = self._now.get(key)
        if found is None:
            found = self._earlier.get(key)
            if found is None:
                found = make()
                self.built += 1
            self._now[key] = found
        return found  # type: ignore[return-value]

    def snapshot(self, policyset: PolicySet, group: frozenset[str]) -> Snapshot:
        """What `Snapshot.from_messages(translate(policyset, group))` gives, from cached pieces."""
        policies = ClusterPolicies(policyset)
        gateways = sorted(name for name in group if name in policyset.gateways)
        backends = backend_targets(policyset, gateways)
        upstreams = self._same_upstreams(policyset, group, backends)
        if upstreams is None:
            upstreams = self._upstreams_of(policyset, policies, group, backends)
        listeners: list[Resource] = []
        routes: list[Resource] = []
        for name in gateways:
            attached = attached_routes(policyset, name)
            admission = gateway_filters(policyset, [r.name for r in attached])
            listeners.append(
                Resource.from_message(listener(policyset, policyset.gateways[name], admission))
            )
            routes.append(
                self._route_configuration(
                    policyset, name, policies, attached, [f.name for f in admission]
                )
            )
        return Snapshot(
            {
                CLUSTER_TYPE: upstreams.clusters,
                ENDPOINT_TYPE: upstreams.endpoints,
                LISTENER_TYPE: listeners,
                ROUTE_TYPE: routes,
            }
        )

    def _same_upstreams(
        self, policyset: PolicySet, group: frozenset[str], backends: tuple[Target, ...]
    ) -> _Upstreams | None:
        """The clusters and endpoints the group got last time, if nothing they read changed.

        A weight written through the API changes routes only: the new set holds the
        very same services and policies (`PolicySet.with_routes`), so the clusters and
        endpoints need not even be looked up, one by one, in the cache.
        """
        last = self._upstreams.get(group)
        if (
            last is None
            or last.services is not policyset.services
            or last.policies is not policyset.policies
            or last.drained != policyset.drained
            or last.backends != backends
        ):
            return None
        for key in last.keys:  # still in use: keep them for the next generation
            if key not in self._now and key in self._earlier:
                self._now[key] = self._earlier[key]
        self._groups.add(group)
        return last

    def _upstreams_of(
        self,
        policyset: PolicySet,
        policies: ClusterPolicies,
        group: frozenset[str],
        backends: tuple[Target, ...],
    ) -> _Upstreams:
        """Every cluster and endpoint assignment the group's routes reach, piece by piece."""
        plain, aggregates = reachable_targets(policyset, backends, policies)
        clusters: list[Resource] = []
        keys: list[Hashable] = []
        primaries: dict[str, tuple[Hashable, Message]] = {}
        for service, subset in plain:
            key, message, resource = self._cluster(policyset, policies, service, subset)
            clusters.append(resource)
            keys.append(key)
            primaries[cluster_name(service, subset)] = (key, message)
        for primary, target in aggregates:
            primary_key, primary_message = primaries[cluster_name(*primary)]
            key = ("aggregate", primary_key, cluster_name(*target), failover_cluster_name(*primary))
            clusters.append(self._aggregate(key, primary_message))
            keys.append(key)
        endpoints: list[Resource] = []
        for service, subset in plain:
            if policyset.services[service].spec.dns is None:
                key = (
                    "endpoints",
                    _Same(policyset.services[service]),
                    subset,
                    policyset.drained.get(service, frozenset()),
                )
                endpoints.append(self._endpoints(key, policyset, service, subset))
                keys.append(key)
        found = _Upstreams(
            policyset.services,
            policyset.policies,
            policyset.drained,
            backends,
            clusters,
            endpoints,
            keys,
        )
        self._upstreams[group] = found
        self._groups.add(group)
        return found

    def _cluster(
        self, policyset: PolicySet, policies: ClusterPolicies, service: str, subset: str | None
    ) -> tuple[Hashable, Message, Resource]:
        """The plain cluster of a target: it reads only the service and its effective policy."""
        found, spec = policyset.services[service], policies.spec(service, subset)
        key = ("cluster", _Same(found), subset, _Same(spec))
        message, resource = self._get(
            key, lambda: _with_resource(upstream_cluster(found, subset, spec))
        )
        return key, message, resource

    def _aggregate(self, key: tuple[Hashable, ...], primary: Message) -> Resource:
        """A failover aggregate: made from its primary cluster and its target's name."""
        _, _, target, name = key
        _, resource = self._get(
            key,
            lambda: _with_resource(failover_cluster(primary, target, name)),  # type: ignore[arg-type]
        )
        return resource

    def _endpoints(
        self, key: tuple[Hashable, ...], policyset: PolicySet, service: str, subset: str | None
    ) -> Resource:
        found, drained = policyset.services[service], policyset.drained.get(service, frozenset())
        return self._get(
            key, lambda: Resource.from_message(load_assignment(found, subset, drained))
        )

    def _route_configuration(
        self,
        policyset: PolicySet,
        gateway: str,
        policies: ClusterPolicies,
        attached: list[HTTPRoute],
        admission: list[str],
    ) -> Resource:
        """The gateway's RouteConfiguration, joined from its virtual hosts' encoded entries.

        `route_configuration` sets nothing but the name (field 1) and the virtual
        hosts (field 2), so the name's encoding followed by the hosts' entries in
        name order is exactly its deterministic serialization.
        """
        if gateway in policyset.gateway_api.gateways:
            # Gateway API routes share virtual hosts by hostname, merged in the Gateway API's
            # precedence across routes: the configuration is translated whole (its documents
            # are converted anew on every read, so no piece of it could be found again).
            return Resource.from_message(route_configuration(policyset, gateway, policies))
        cluster_for = policies.routed_cluster_name
        traced = traced_routes(policyset)
        hosts: list[_EncodedHost] = []
        for route in attached:  # by name, as `attached_routes` gives them
            tracing = route_tracing_of(policyset, gateway, route.name, traced)
            inputs = virtual_host_inputs(policyset, route, cluster_for, admission)
            traced_bytes = b"" if tracing is None else tracing.SerializeToString(deterministic=True)
            hosts.append(
                self._get(
                    _key("host", traced_bytes, *inputs),
                    lambda r=route, t=tracing: _EncodedHost(  # type: ignore[misc]
                        _traced(virtual_host(policyset, r, cluster_for, admission), t)
                    ),
                )
            )
        name = route_config_name(gateway)
        shell = route_pb2.RouteConfiguration(name=name).SerializeToString(deterministic=True)
        refs: frozenset[Ref] = frozenset().union(*(h.refs for h in hosts))
        return Resource.from_encoded(
            ROUTE_TYPE, name, shell + b"".join(h.entry for h in hosts), refs
        )


def _traced(
    host: route_components_pb2.VirtualHost, tracing: route_components_pb2.Tracing | None
) -> route_components_pb2.VirtualHost:
    """As `apply_route_tracing` does to the hosts of a route configuration."""
    if tracing is not None:
        for envoy_route in host.routes:
            envoy_route.tracing.CopyFrom(tracing)
    return host


def _with_resource(message: Message) -> tuple[Message, Resource]:
    return message, Resource.from_message(message)


__all__ = ["SnapshotBuilder"]
