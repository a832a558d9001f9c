"""IR → encoded Envoy resources: the one build path, for the server, `render` and the tests.

Each piece (a cluster, an endpoint set, a virtual host, a listener, a route
configuration, a group's upstreams as a whole) is cached under the IR node
it is made from. Nodes compare by value (policy model parts by identity,
`ir.nodes`), so a node resolved again from unchanged documents finds its
piece, and a first build is a rebuild with an empty cache: there is no
other recipe. A RouteConfiguration is the encoding of its name followed by
its virtual hosts' encoded entries (protobuf lets the entries of a repeated
field be concatenated), so one changed route costs one virtual host.

Each build starts a generation (`next_generation`): what the last one did
not use is forgotten, so the cache holds about one snapshot's worth of
pieces per gateway set. Not thread-safe: one build at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import chain
from typing import TypeVar

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_pb2

from breakwater.translators.envoy.cluster_shapes import ClusterShapes
from breakwater.translators.envoy.clusters import failover_cluster
from breakwater.translators.envoy.encoded import (
    Ref,
    Resource,
    encode_bytes_field,
    entry_digest,
    version_of_entries,
    virtual_host_references,
)
from breakwater.translators.envoy.endpoints import encoded_load_assignment, local_assignment
from breakwater.translators.envoy.listeners import listener
from breakwater.translators.envoy.proxyless import (
    grpc_cluster,
    grpc_listener,
    grpc_load_assignment,
    grpc_route_configuration,
)
from breakwater.translators.envoy.routes import virtual_host
from breakwater.translators.ir.nodes import (
    Aggregate,
    Cluster,
    Endpoints,
    ForGrpc,
    Group,
    Listener,
    LocalCluster,
    MeshGroup,
    MeshListener,
    MeshRoutes,
    Node,
    RouteConfiguration,
    Upstreams,
    VirtualHost,
)
from breakwater.xds_types import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE

T = TypeVar("T")
K = TypeVar("K", bound=Node)
Built = dict[str, list[Resource]]
"""Type URL → encoded resources of that type; every type URL is present."""

_VIRTUAL_HOSTS = route_pb2.RouteConfiguration.DESCRIPTOR.fields_by_name["virtual_hosts"].number


class EncodedHost:
    """One virtual host, serialized as a `RouteConfiguration.virtual_hosts` entry, with a
    digest of that entry (a route configuration's version is made of its hosts' digests)."""

    __slots__ = ("digest", "entry", "refs")

    def __init__(self, host: VirtualHost) -> None:
        message = virtual_host(host)
        self.entry = encode_bytes_field(
            _VIRTUAL_HOSTS, message.SerializeToString(deterministic=True)
        )
        self.digest = entry_digest(self.entry)
        self.refs = virtual_host_references(message)


class Builder:
    """Encoded resources of IR groups, from cached pieces wherever their nodes are equal."""

    def __init__(self, keep: bool = True) -> None:
        """`keep=False`: for a build no other will follow (`snapshot.build`), which makes
        every piece and keeps none."""
        self._keep = keep
        self._earlier: dict[Node, object] = {}
        self._now: dict[Node, object] = {}
        self.built = 0
        """Pieces translated so far (clusters, endpoint sets, virtual hosts, listeners); the
        rest came from the cache. Joining pieces (a route configuration, a group's upstreams)
        is not translating, and not counted."""

    def next_generation(self) -> None:
        """Start a build: pieces the last build did not use are dropped after this one."""
        if self._now:
            self._earlier, self._now = self._now, {}

    def _get(self, key: K, make: Callable[[K], T], parts: Iterable[Node] | None = None) -> T:
        """The piece `make(key)`; one joined from `parts` (the pieces it was made of) keeps
        them, when found in the last generation, for the next, as if they had been asked for."""
        if not self._keep:
            self.built += parts is None
            return make(key)
        found = self._now.get(key)
        if found is None:
            found = self._earlier.get(key)
            if found is None:
                found = make(key)
                self.built += parts is None
            else:
                for part in parts or ():
                    if part not in self._now and part in self._earlier:
                        self._now[part] = self._earlier[part]
            self._now[key] = found
        return found  # type: ignore[return-value]

    def build(self, group: Group) -> Built:
        clusters, endpoints = self._upstreams(group.upstreams)
        if group.local is not None:
            endpoints = sorted([*endpoints, self._get(group.local, _local)], key=_name)
        return {
            CLUSTER_TYPE: clusters,
            ENDPOINT_TYPE: endpoints,
            LISTENER_TYPE: [self._listener(node) for node in group.listeners],
            ROUTE_TYPE: [self._route_configuration(node) for node in group.routes],
        }

    def build_mesh(self, group: MeshGroup) -> Built:
        """What proxyless gRPC clients are sent (`envoy.proxyless`); each piece is cached
        under `ForGrpc(node)`, apart from the Envoy piece of the same node."""
        upstreams = group.upstreams
        clusters = [
            self._get(ForGrpc(node), _grpc_cluster)
            for node in upstreams.clusters
            if node.dns is None
        ]
        return {
            CLUSTER_TYPE: clusters,
            ENDPOINT_TYPE: [
                self._get(ForGrpc(node), _grpc_endpoints) for node in upstreams.endpoints
            ],
            LISTENER_TYPE: [self._get(node, _grpc_listener) for node in group.listeners],
            ROUTE_TYPE: [self._get(node, _grpc_routes) for node in group.routes],
        }

    def _upstreams(self, upstreams: Upstreams) -> tuple[list[Resource], list[Resource]]:
        """A weight written through the API changes routes only: the group's upstreams are
        then the same node, found whole without looking up each cluster."""
        parts = (*upstreams.clusters, *upstreams.aggregates, *upstreams.endpoints)
        return self._get(upstreams, self._make_upstreams, parts)

    def _make_upstreams(self, upstreams: Upstreams) -> tuple[list[Resource], list[Resource]]:
        shapes = ClusterShapes()
        built = {node.name: self._get(node, shapes.cluster) for node in upstreams.clusters}
        named = {name: resource for name, (_, resource) in built.items()}
        for node in upstreams.aggregates:
            limits = built[node.primary.name][0]
            named[node.name] = self._get(node, partial(_aggregate, limits=limits))
        endpoints = [self._get(node, _endpoints) for node in upstreams.endpoints]
        return [named[name] for name in sorted(named)], endpoints

    def _listener(self, node: Listener) -> Resource:
        return self._get(node, _listener)

    def _route_configuration(self, node: RouteConfiguration) -> Resource:
        return self._get(node, self._join, node.hosts)

    def _join(self, node: RouteConfiguration) -> Resource:
        hosts = self.encoded_hosts(node)
        refs: frozenset[Ref] = frozenset().union(*(h.refs for h in hosts))
        return joined(node.name, [h.entry for h in hosts], [h.digest for h in hosts], refs)

    def encoded_hosts(self, node: RouteConfiguration) -> list[EncodedHost]:
        """The encoded virtual hosts of a route configuration, in order (for a later build
        that changes a few of them, `snapshot.Translator`)."""
        return [self._get(host, EncodedHost) for host in node.hosts]


def joined(
    name: str,
    entries: Sequence[bytes],
    digests: Sequence[bytes],
    refs: frozenset[Ref],
    like: Resource | None = None,
) -> Resource:
    """A route configuration joined from its virtual hosts' encoded entries: it sets nothing
    but its name (field 1) and virtual hosts (field 2), so the name's encoding followed by the
    hosts' entries in order is exactly its deterministic serialization. `like`: the route
    configuration before, when `refs` are its very same set.

    Its version is made of its entries' digests (`encoded.BY_ENTRIES`), the hosts' kept ones:
    an edit of one host of ten thousand hashes that host's entry, not the 6 MB they join to."""
    shell = route_pb2.RouteConfiguration(name=name).SerializeToString(deterministic=True)
    version = version_of_entries(chain((entry_digest(shell),), digests))
    return Resource.from_parts(ROUTE_TYPE, name, [shell, *entries], refs, version, like)


def _aggregate(node: Aggregate, limits: cluster_pb2.Cluster) -> Resource:
    return Resource.from_message(
        failover_cluster(node.primary.name, limits, node.target, node.name)
    )


def _endpoints(node: Endpoints) -> Resource:
    """Written directly (`encoded_load_assignment`); an assignment names nothing."""
    value = encoded_load_assignment(node.cluster, node.hosts, dict(node.priorities))
    return Resource.from_encoded(ENDPOINT_TYPE, node.cluster, value, frozenset())


def _local(node: LocalCluster) -> Resource:
    return Resource.from_message(local_assignment(node))


def _name(resource: Resource) -> str:
    return resource.name


def _listener(node: Listener) -> Resource:
    return Resource.from_message(listener(node))


def _grpc_cluster(node: ForGrpc) -> Resource:
    assert isinstance(node.node, Cluster)
    return Resource.from_message(grpc_cluster(node.node))


def _grpc_endpoints(node: ForGrpc) -> Resource:
    assert isinstance(node.node, Endpoints)
    return Resource.from_message(grpc_load_assignment(node.node))


def _grpc_listener(node: MeshListener) -> Resource:
    return Resource.from_message(grpc_listener(node))


def _grpc_routes(node: MeshRoutes) -> Resource:
    return Resource.from_message(grpc_route_configuration(node))
