"""The IR's nodes: frozen dataclasses, compared by value, hashed once.

A node is a cache key (`build.Builder`), so it must say everything the
Envoy resource made from it depends on, and nothing else. Plain values
(names, numbers, tuples, nodes) are compared by value; a policy model part
(a `Retry`, a `Fault`, an effective policy) by identity, because the policy
reader and the merge memo hand back the very same object for an unchanged
document or merge, and comparing pydantic models by value at 10 000 routes
would cost what the cache saves. A node holds its parts, so an identity in
its key can never be taken over by another object while the node lives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import timedelta
from operator import attrgetter
from typing import Literal, NamedTuple, Union, get_args, get_origin, get_type_hints

from breakwater.translators.capacity_model import AdaptiveConcurrency, GatewayLimits
from breakwater.translators.model import (
    CircuitBreaker,
    GatewayTls,
    LoadBalancer,
    Protocol,
    Service,
)
from breakwater.translators.model_parts import HeaderMatch
from breakwater.translators.policyset import Effective
from breakwater.translators.route_model import RouteMatch
from breakwater.translators.traffic_model import (
    DirectResponse,
    Fault,
    GlobalRateLimit,
    HeaderChanges,
    Mirror,
    RateLimit,
    Redirect,
    Rewrite,
)

_VALUES = (str, int, float, bool, bytes, timedelta, type(None))
_UNION = type(int | None)
_VALUE, _PART, _PARTS = 0, 1, 2
"""How a field enters a node's key: as it is, by the identity of the part it holds, or by
the identity of each part of the tuple it holds."""


def _is_value(hint: object) -> bool:
    """Plain values, nodes, literals, and tuples (named ones too) and unions of those."""
    if hint in _VALUES or (isinstance(hint, type) and issubclass(hint, Node)):
        return True
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        return all(_is_value(field) for field in get_type_hints(hint).values())
    origin = get_origin(hint)
    if origin is Literal:
        return True
    if origin in (tuple, Union, _UNION):
        return all(arg is Ellipsis or _is_value(arg) for arg in get_args(hint))
    return False


def _kind(hint: object) -> int:
    if _is_value(hint):
        return _VALUE
    return _PARTS if get_origin(hint) is tuple else _PART


_Getter = Callable[[object], tuple[object, ...]]


def _getter(names: list[str]) -> _Getter:
    """The named fields of a node, as one tuple (`attrgetter` gives a bare value for one name)."""
    if not names:
        return lambda _: ()
    if len(names) == 1:
        only = attrgetter(names[0])
        return lambda node: (only(node),)
    return attrgetter(*names)


_GETTERS: dict[type, tuple[_Getter, _Getter, _Getter]] = {}


class Node:
    """Equal when of one type with equal parts; the hash is worked out once.

    Subclasses are `@dataclass(frozen=True, eq=False, slots=True)`, so these stay theirs. A field
    typed as a policy model part (or a tuple of them) enters the key by identity; the node
    holds the part, so the identity cannot be reused while the node lives."""

    __slots__ = ("_hash",)
    _hash: int

    def _key(self) -> tuple[object, ...]:
        getters = _GETTERS.get(type(self))
        if getters is None:
            hints = get_type_hints(type(self))
            names: tuple[list[str], list[str], list[str]] = ([], [], [])
            for f in fields(self):  # type: ignore[arg-type]
                names[_kind(hints[f.name])].append(f.name)
            getters = _GETTERS[type(self)] = (
                _getter(names[_VALUE]),
                _getter(names[_PART]),
                _getter(names[_PARTS]),
            )
        values, part, parts = getters
        return (
            values(self),
            tuple(map(id, part(self))),
            tuple([tuple(map(id, each)) for each in parts(self)]),  # type: ignore[call-overload]
        )

    def __hash__(self) -> int:
        """Worked out once, when first asked: a build that keeps nothing never asks."""
        try:
            return self._hash
        except AttributeError:
            found = hash((type(self), self._key()))
            object.__setattr__(self, "_hash", found)
            return found

    def __eq__(self, other: object) -> bool:
        """The keys are worked out again when asked: distinct nodes are compared only when
        their hashes are equal, and not keeping the key spares memory and the collector."""
        return self is other or (
            type(other) is type(self) and hash(other) == hash(self) and other._key() == self._key()  # type: ignore[attr-defined]
        )


# -- upstreams ----------------------------------------------------------------


@dataclass(frozen=True, eq=False, slots=True)
class Cluster(Node):
    """A plain cluster: a service, or one subset of it, with its level's effective policy."""

    name: str
    service: str
    subset: str | None
    protocol: Protocol
    dns: tuple[str, int] | None
    """Envoy resolves this (name, port) itself; None: endpoints come over EDS."""
    policy: Effective
    """`effective_for_cluster(service, subset)`: the settings and who set each one."""


@dataclass(frozen=True, eq=False, slots=True)
class Aggregate(Node):
    """A failover: an aggregate cluster preferring its primary, spilling over to the target."""

    name: str
    primary: Cluster
    target: str
    """The target's plain cluster name."""


class Host(NamedTuple):
    """One endpoint as Envoy gets it: where, whether it drains, its zone and its weight."""

    address: str
    port: int
    draining: bool
    zone: str | None = None
    """Its locality's zone; None: the locality without a zone."""
    weight: int = 1
    """Envoy's `load_balancing_weight` of the host (1, Envoy's default, is not written)."""


@dataclass(frozen=True, eq=False, slots=True)
class Endpoints(Node):
    """The endpoint set of one EDS cluster, in declaration order, drains applied."""

    cluster: str
    hosts: tuple[Host, ...]
    source: Service
    """The document the hosts were read from: a directory read afresh is translated afresh,
    as every other piece whose policy parts are new objects."""
    priorities: tuple[tuple[str, int], ...] = ()
    """Zone ("" for hosts without one) → its Envoy priority, for the proxies of one zone
    (`failover.zones`); empty: every locality at priority 0."""


@dataclass(frozen=True, eq=False, slots=True)
class LocalCluster(Node):
    """The proxies of one node cluster by zone: Envoy's local cluster, which zone-aware routing
    compares each upstream's zones with (how many proxies send from each zone)."""

    name: str
    zones: tuple[tuple[str, int], ...]
    """Zone ("" for proxies that named none) → how many proxies of the node cluster are in it."""


@dataclass(frozen=True, eq=False, slots=True)
class Upstreams(Node):
    """Every cluster and endpoint set a node group's routes and collectors reach."""

    clusters: tuple[Cluster, ...]
    """Plain clusters, failover targets included, by name."""
    aggregates: tuple[Aggregate, ...]
    endpoints: tuple[Endpoints, ...]
    """Of the plain clusters that are not resolved by DNS, in the same order."""


# -- telemetry ----------------------------------------------------------------


@dataclass(frozen=True, eq=False, slots=True)
class Tag(Node):
    """A tracing tag: exactly one of literal, header, environment."""

    name: str
    literal: str | None
    header: str | None
    environment: str | None
    default: str | None


@dataclass(frozen=True, eq=False, slots=True)
class Sampling(Node):
    """Sampling and tags, the part of tracing a route can set for itself."""

    random: float | None
    client: float | None
    overall: float | None
    tags: tuple[Tag, ...]


@dataclass(frozen=True, eq=False, slots=True)
class Tracing(Node):
    """A gateway's tracer: the collector Service it exports to and what it samples."""

    collector: str
    service_name: str
    sampling: Sampling


@dataclass(frozen=True, eq=False, slots=True)
class LogSink(Node):
    """One access log destination; `target` is the file path or the collector Service."""

    kind: str
    target: str | None


@dataclass(frozen=True, eq=False, slots=True)
class AccessLog(Node):
    """A gateway's access log, its fields resolved (defaults with the Telemetry's laid over)."""

    fields: tuple[tuple[str, str], ...]
    errors: bool
    sample_percent: float | None
    sinks: tuple[LogSink, ...]
    service_name: str


# -- listeners ----------------------------------------------------------------


@dataclass(frozen=True, eq=False, slots=True)
class AdmissionFilter(Node):
    """A service-wide breaker level one of the gateway's rules uses (`admission`)."""

    level: str
    """The service, `service|subset` or `fleet` whose policy the rules take."""
    breaker: CircuitBreaker


@dataclass(frozen=True, eq=False, slots=True)
class AdaptiveFilter(Node):
    """An adaptive concurrency level one of the gateway's rules uses (`adaptive`)."""

    level: str
    """The service, `service|subset` or `fleet` whose policy the rules take."""
    adaptive: AdaptiveConcurrency


@dataclass(frozen=True, eq=False, slots=True)
class GlobalLimit(Node):
    """A `rateLimit.global` and the key its counter goes by (who set it)."""

    key: str
    limit: GlobalRateLimit


@dataclass(frozen=True, eq=False, slots=True)
class Listener(Node):
    """A gateway: where it listens, its TLS, its HTTP filters and its telemetry."""

    gateway: str
    address: str
    port: int
    tls: GatewayTls | None
    limits: GatewayLimits | None
    rate_limit: RateLimit | None
    """The gateway-wide limit: every request no route or rule limits itself."""
    admission: tuple[AdmissionFilter, ...]
    """By level: one filter per service-wide breaker level its rules use."""
    adaptive: tuple[AdaptiveFilter, ...]
    """By level: one filter per adaptive concurrency level its rules use."""
    rate_limit_service: str | None
    """The cluster of the gateway's rate-limit service (global limits), if it names one."""
    tracing: Tracing | None
    access_log: AccessLog | None
    """None: the Telemetry turned the access log off."""


# -- routes -------------------------------------------------------------------


class Backend(NamedTuple):
    cluster: str
    """Where traffic goes: the backend's failover aggregate when it has one."""
    weight: int


@dataclass(frozen=True, eq=False, slots=True)
class Preview(Node):
    """A rollout's header stage: requests with these headers go to one cluster."""

    headers: tuple[HeaderMatch, ...]
    cluster: str


@dataclass(frozen=True, eq=False, slots=True)
class Rule(Node):
    """One rule of an HTTPRoute on one gateway: what each of its Envoy routes says.

    Retry, timeout and fallback are the rule's effective policy (`policy`,
    with who set each field); fault, rate limit, mirror, header changes,
    redirects and rewrites are the rule's own.
    """

    route: str
    index: int
    matches: tuple[RouteMatch, ...]
    """Empty: one route that matches every request."""
    backends: tuple[Backend, ...]
    sticky: str | None
    """The header whose hash picks the backend."""
    balancers: tuple[LoadBalancer | None, ...]
    """The load balancer of each backend's cluster, for the hash policies it needs."""
    policy: Effective
    fault: Fault | None
    rate_limit: RateLimit | None
    mirror: Mirror | None
    request_headers: HeaderChanges | None
    response_headers: HeaderChanges | None
    redirect: Redirect | None
    direct_response: DirectResponse | None
    rewrite: Rewrite | None
    admission: str | None
    """The rule's policy level, if its breaker is service-wide (an admission control filter)."""
    adaptive: str | None
    """The rule's policy level, if its bulkhead is adaptive (an adaptive concurrency filter)."""
    global_limit: GlobalLimit | None
    """The rule's own global rate limit."""
    preview: Preview | None


@dataclass(frozen=True, eq=False, slots=True)
class VirtualHost(Node):
    """The rules that serve some hostnames on one gateway.

    One HTTPRoute each, for Breakwater's routes; Gateway API routes that
    share a hostname share one, their rules ordered by the Gateway API's
    match precedence (`by_precedence`).
    """

    name: str
    domains: tuple[str, ...]
    rules: tuple[Rule, ...]
    rate_limit: RateLimit | None
    """The route's own limit: one bucket for its rules without one."""
    global_limit: GlobalLimit | None
    """The route's global limit, else its gateway's: for its rules without one of their own."""
    tracing: Sampling | None
    """The route's own Telemetry, laid on each of its Envoy routes."""
    gateway_levels: tuple[str, ...]
    """The gateway's admission control levels, whose filters every rule but its own turns off."""
    adaptive_levels: tuple[str, ...]
    """The gateway's adaptive concurrency levels, turned off the same way."""
    by_precedence: bool


@dataclass(frozen=True, eq=False, slots=True)
class RouteConfiguration(Node):
    name: str
    hosts: tuple[VirtualHost, ...]
    """By name."""


@dataclass(frozen=True, eq=False, slots=True)
class Group(Node):
    """Everything a node group's proxies are sent."""

    listeners: tuple[Listener, ...]
    routes: tuple[RouteConfiguration, ...]
    upstreams: Upstreams
    local: LocalCluster | None = None
    """The proxies' local cluster, when they named their zone."""


# -- proxyless gRPC clients ---------------------------------------------------


@dataclass(frozen=True, eq=False, slots=True)
class MeshListener(Node):
    """What a gRPC client dialing `xds:///<service>` asks LDS for: an API listener of that name."""

    service: str
    route_config: str
    fault: bool
    """Whether a rule injects faults (the fault filter then goes before the router)."""


@dataclass(frozen=True, eq=False, slots=True)
class MeshRoutes(Node):
    """The route configuration of one service for its proxyless callers: the rules of the
    routes attached to it, in name and rule order, then the whole service."""

    name: str
    service: str
    rules: tuple[Rule, ...]
    default: str
    """The cluster of the whole service, which takes every call no rule matched."""
    policy: Effective
    """The service's own effective policy, for the retries and timeout of that last route."""


@dataclass(frozen=True, eq=False, slots=True)
class MeshGroup(Node):
    """Everything a proxyless client profile is sent (a client asks for a part of it)."""

    listeners: tuple[MeshListener, ...]
    routes: tuple[MeshRoutes, ...]
    upstreams: Upstreams


@dataclass(frozen=True, eq=False, slots=True)
class ForGrpc(Node):
    """A piece as gRPC's xDS client is sent it: the builder's cache key, apart from Envoy's."""

    node: Node
