"""The policy language: every document a user writes, as pydantic v2 models.

Field names in YAML are camelCase (aliases); in Python they are snake_case.
Every model forbids unknown fields so that a typo is an error, not a silently
ignored setting. Where a field has a default here, that default is Breakwater's
documented choice and is emitted to Envoy; where it is `None`, nothing is
emitted and Envoy's own default applies (`explain` says which).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from breakwater.defaults import (
    ENDPOINT_WEIGHT_LIMIT,
    REGISTRATION_DRAIN,
    REGISTRATION_MAX_INSTANCES,
    REGISTRATION_MAX_INSTANCES_LIMIT,
    REGISTRATION_TTL,
)
from breakwater.translators.capacity_model import AdaptiveConcurrency, GatewayLimits
from breakwater.translators.durations import Duration
from breakwater.translators.gateway_api.refs import service_ref
from breakwater.translators.model_parts import (
    HttpStatus,
    Model,
    Name,
    Part,
    Percent,
    Port,
    PositiveDuration,
    RefName,
    Zone,
)
from breakwater.translators.shared_parts import same_value_dict
from breakwater.translators.traffic_model import (
    Fallback,
    RateLimit,
)

API_VERSION = "breakwater.dev/v1alpha1"


class Metadata(Part):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# --- Service ---------------------------------------------------------------


Labels = Annotated[dict[str, str], AfterValidator(same_value_dict)]
"""An endpoint's labels: equal label sets are one dict (thousands of endpoints carry
`version: stable`), never changed once validated."""


class Endpoint(Model):
    address: str
    port: Port
    labels: Labels = Field(default_factory=dict)
    zone: Zone | None = None
    """The zone the endpoint runs in: Envoy's locality, for zone-aware routing and failover."""
    weight: int | None = Field(default=None, ge=1, le=ENDPOINT_WEIGHT_LIMIT)
    """Its share against the other endpoints (Envoy's `load_balancing_weight`); unset: 1."""

    @model_validator(mode="after")
    def _address_is_ip(self) -> Endpoint:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise ValueError(
                f"address {self.address!r} is not an IP address; "
                "for a host name use the service's `dns` field instead of `endpoints`"
            ) from None
        return self


class DnsTarget(Model):
    """A service reached through DNS: Envoy resolves it itself (STRICT_DNS)."""

    name: str = Field(min_length=1, max_length=253)
    port: Port


class Registration(Part):
    """The Service takes instances that register themselves through the API (and renew)."""

    ttl: PositiveDuration = timedelta(seconds=REGISTRATION_TTL)
    """How long an instance lives without a renewal, unless it registers with its own TTL."""
    max_instances: int = Field(
        default=REGISTRATION_MAX_INSTANCES, ge=1, le=REGISTRATION_MAX_INSTANCES_LIMIT
    )
    """Registered instances the Service takes at most; a registration beyond it is refused."""
    drain_time: Duration = timedelta(seconds=REGISTRATION_DRAIN)
    """How long a deregistered instance stays in EDS as DRAINING (no new requests, the ones
    in flight finish) before it is removed."""


class Subset(Part):
    """A named slice of a service's endpoints, chosen by labels (e.g. stable, canary); in a
    `dns` service, a DNS name of its own (`canary.payments.internal`)."""

    name: Name
    labels: dict[str, str] | None = Field(default=None, min_length=1)
    dns: DnsTarget | None = None
    """The subset's own DNS name and port, in a Service reached through `dns`."""

    @model_validator(mode="after")
    def _one_way_to_select(self) -> Subset:
        if self.dns is not None and self.labels is not None:
            raise ValueError(
                "give `labels` (endpoints selected by label) or `dns` (a DNS name of its own), "
                "not both"
            )
        if self.dns is None and self.labels is None:
            raise ValueError(
                "give `labels` that select the subset's endpoints, or, in a `dns` service, "
                "`dns: {name, port}`"
            )
        return self

    def selects(self, labels: Mapping[str, str]) -> bool:
        selector = self.labels or {}
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


Protocol = Literal["http", "http2", "grpc"]


class ServiceSpec(Model):
    protocol: Protocol = "http"
    endpoints: list[Endpoint] = Field(default_factory=list)
    dns: DnsTarget | None = None
    subsets: list[Subset] = Field(default_factory=list)
    registration: Registration | None = None
    """Instances may register themselves (`PUT /v1/services/{service}/instances/...`), beside
    the `endpoints` listed here."""
    proxyless: bool | None = None
    """Served to proxyless gRPC clients (`xds:///<name>`): unset means yes for `protocol: grpc`
    services with `endpoints`; `false` keeps a gRPC service for Envoy alone, so its policies may
    use what gRPC's own xDS client cannot do."""

    @property
    def served_proxyless(self) -> bool:
        """Whether gRPC clients dialing `xds:///<name>` get this service (`proxyless`)."""
        if self.proxyless is None:
            return self.protocol == "grpc" and self.dns is None
        return self.proxyless

    @model_validator(mode="after")
    def _proxyless_needs_grpc(self) -> ServiceSpec:
        if self.proxyless and self.protocol != "grpc":
            raise ValueError(
                f"`proxyless: true` serves the service to gRPC clients, and its protocol is "
                f"{self.protocol!r}: set `protocol: grpc`, or remove `proxyless`"
            )
        if self.proxyless and self.dns is not None:
            raise ValueError(
                "`proxyless: true` needs `endpoints`: gRPC clients are sent the endpoints over "
                "EDS, and a `dns` service has none; list its endpoints, or remove `proxyless`"
            )
        return self

    @model_validator(mode="after")
    def _one_way_to_reach(self) -> ServiceSpec:
        if self.dns is not None and self.endpoints:
            raise ValueError("give either `endpoints` or `dns`, not both")
        if self.dns is not None and self.registration is not None:
            raise ValueError(
                "a `dns` service cannot take registrations: Envoy resolves its hosts itself; "
                "remove `dns` to let instances register (static `endpoints` may stay beside "
                "`registration`)"
            )
        for subset in self.subsets:
            if self.dns is not None and subset.dns is None:
                raise ValueError(
                    f"subset {subset.name!r} selects by label, but a `dns` service has no "
                    "labels to select: give the subset `dns: {name, port}` of its own"
                )
            if self.dns is None and subset.dns is not None:
                raise ValueError(
                    f"subset {subset.name!r} has a `dns` name, but the service lists "
                    "`endpoints`: select the subset's endpoints by `labels`, or reach the "
                    "service through `dns`"
                )
        seen: set[str] = set()
        for subset in self.subsets:
            if subset.name in seen:
                raise ValueError(
                    f"subset {subset.name!r} is declared twice; subset names must be unique"
                )
            seen.add(subset.name)
        return self

    def subset(self, name: str) -> Subset | None:
        return next((s for s in self.subsets if s.name == name), None)

    def endpoints_of(self, subset: str | None) -> list[Endpoint]:
        """Endpoints a subset selects: every label of the selector must match."""
        if subset is None:
            return list(self.endpoints)
        chosen = self.subset(subset)
        if chosen is None:
            return []
        return [e for e in self.endpoints if chosen.selects(e.labels)]

    def dns_of(self, subset: str | None) -> DnsTarget | None:
        """The DNS name Envoy resolves for the service or one of its subsets (None: EDS)."""
        if self.dns is None or subset is None:
            return self.dns
        chosen = self.subset(subset)
        return chosen.dns if chosen is not None and chosen.dns is not None else self.dns


# --- ResiliencePolicy --------------------------------------------------------


class TargetRef(Model):
    group: Literal["", "breakwater.dev"] | None = None
    """Kubernetes' way to name a Service (`""`), or a ServiceSubset (`breakwater.dev`)."""
    kind: Literal["Service", "ServiceSubset"] = "Service"
    """`ServiceSubset` names `<service>.<subset>` (read into `name` and `subset`)."""
    namespace: str | None = None
    """The Service's namespace (read into `name`: `<namespace>.<name>` outside `default`). In
    files only `default` has Services; on Kubernetes a reference without one is the object's own."""
    name: RefName
    subset: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _kubernetes_form(cls, data: Any) -> Any:
        return service_ref(data)


class CircuitBreaker(Part):
    """Per-host ejection (Envoy outlier detection), in the vocabulary of Hystrix and Resilience4j."""

    consecutive_errors: int | None = Field(default=None, ge=1)
    consecutive_gateway_errors: int | None = Field(default=None, ge=1)
    local_origin_failures: int | None = Field(default=None, ge=1)
    """Eject a host after this many failures in a row that the proxy saw itself (connection
    refused or reset, timeout) rather than answers from the host; 5xx answers are counted apart."""
    failure_rate_threshold: Percent | None = None
    minimum_requests: int | None = Field(default=None, ge=1)
    # Envoy's default of 5 hosts means a two-host subset never ejects on failure
    # rate; a policy that names a threshold expects it to act.
    minimum_hosts: int = Field(default=1, ge=1)
    interval: PositiveDuration | None = None
    open_duration: PositiveDuration | None = None
    max_open_duration: PositiveDuration | None = None
    # Envoy's default of 10 % ejects nothing in a cluster of fewer than ten
    # hosts; a policy that says "eject a failing host" must be able to.
    max_ejection_percent: Percent = 100
    panic_threshold: Percent | None = None
    # `scope: service`: the whole service's success rate, on each proxy, sheds load
    # (Envoy's admission control); None keeps the per-host ejection above alone.
    scope: Literal["host", "service"] | None = None
    success_rate_threshold: Percent | None = None
    window: PositiveDuration | None = None
    minimum_request_rate: int | None = Field(default=None, ge=0)
    max_rejection_percent: Percent | None = None

    @model_validator(mode="after")
    def _service_scope(self) -> CircuitBreaker:
        service_fields = {
            "successRateThreshold": self.success_rate_threshold,
            "window": self.window,
            "minimumRequestRate": self.minimum_request_rate,
            "maxRejectionPercent": self.max_rejection_percent,
        }
        named = [name for name, value in service_fields.items() if value is not None]
        if self.scope == "service" and self.success_rate_threshold is None:
            raise ValueError(
                "`scope: service` needs `successRateThreshold`: the success rate (percent) "
                "under which Envoy starts rejecting requests"
            )
        if self.scope != "service" and named:
            raise ValueError(
                f"{', '.join(f'`{n}`' for n in named)} "
                f"{'applies' if len(named) == 1 else 'apply'} to the whole service: add "
                "`scope: service`, or remove it for per-host ejection only"
            )
        return self


class Bulkhead(Part):
    """Per-proxy concurrency limits (Envoy circuit_breakers thresholds); overflow is an immediate 503."""

    max_concurrent_requests: int | None = Field(default=None, ge=0)
    max_queued_requests: int | None = Field(default=None, ge=0)
    max_connections: int | None = Field(default=None, ge=0)
    max_concurrent_retries: int | None = Field(default=None, ge=0)
    adaptive: AdaptiveConcurrency | None = None
    """A concurrency limit that follows latency (Envoy's adaptive concurrency filter), per proxy,
    beside the fixed limits above."""


class Backoff(Part):
    base_interval: PositiveDuration
    max_interval: PositiveDuration | None = None

    @model_validator(mode="after")
    def _max_not_below_base(self) -> Backoff:
        if self.max_interval is not None and self.max_interval < self.base_interval:
            raise ValueError("`maxInterval` must not be shorter than `baseInterval`")
        return self


class RetryBudget(Part):
    percent: Percent
    min_concurrency: int | None = Field(default=None, ge=0)


RetryCondition = Literal[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
]

DEFAULT_RETRY_ON: tuple[RetryCondition, ...] = ("5xx", "reset", "connect-failure", "refused-stream")


class Retry(Part):
    # Total attempts, the first one included (Resilience4j's maxAttempts);
    # Envoy's num_retries is attempts - 1.
    attempts: int = Field(ge=1, le=100)
    per_try_timeout: PositiveDuration | None = None
    retry_on: list[RetryCondition] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_ON), min_length=1
    )
    retriable_status_codes: list[HttpStatus] | None = None
    backoff: Backoff | None = None
    budget: RetryBudget | None = None
    hedge: bool | None = None
    """When an attempt's `perTryTimeout` fires, send the next attempt without cancelling the slow
    one; the first answer wins (Envoy's `hedge_on_per_try_timeout`)."""

    @field_validator("hedge")
    @classmethod
    def _hedge_has_a_trigger(cls, hedge: bool | None, info: ValidationInfo) -> bool | None:
        # Fields are checked in declaration order: attempts and perTryTimeout come first.
        if not hedge:
            return hedge
        if info.data.get("per_try_timeout") is None:
            raise ValueError(
                "`hedge: true` needs `perTryTimeout` in the same retry: Envoy sends a hedged "
                "attempt only when an attempt's per-try timeout fires; add `perTryTimeout` "
                "(shorter than the slow answers you want to hedge)"
            )
        if info.data.get("attempts", 2) < 2:
            raise ValueError(
                "`hedge: true` needs `attempts` of 2 or more: a hedged request is a second "
                "attempt sent beside the first"
            )
        return hedge


class Timeout(Part):
    request: Duration | None = Field(default=None, ge=timedelta(0))
    """`0s` turns the request timeout off (Envoy would otherwise answer 504 after 15 s)."""
    connect: PositiveDuration | None = None
    idle: PositiveDuration | None = None


class HttpHealthCheck(Part):
    path: str = Field(pattern=r"^/", description="request path, starting with '/'")
    host: str | None = None
    expected_statuses: list[HttpStatus] | None = None


class TcpHealthCheck(Part):
    """A connect-only check: the host is healthy when it accepts a TCP connection."""


class HealthCheck(Part):
    # Envoy requires all four; these defaults are Breakwater's documented choice.
    interval: PositiveDuration = timedelta(seconds=5)
    timeout: PositiveDuration = timedelta(seconds=1)
    unhealthy_threshold: int = Field(default=3, ge=1)
    healthy_threshold: int = Field(default=2, ge=1)
    http: HttpHealthCheck | None = None
    tcp: TcpHealthCheck | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        if (self.http is None) == (self.tcp is None):
            raise ValueError("give exactly one of `http` (with a path) or `tcp: {}`")
        return self


class Failover(Part):
    to: Name | None = None
    """Another service (or subset) that takes over when this one has no healthy host left."""
    subset: Name | None = None
    zones: list[Zone] | None = None
    """Stay in the proxy's own zone, failing over zone by zone: each proxy gets the zones as
    Envoy priorities, its own first, then these in their order, then every other zone.
    `zones: []` is "own zone first, every other next"."""

    @model_validator(mode="after")
    def _somewhere(self) -> Failover:
        if self.to is None and self.zones is None:
            raise ValueError(
                "give `to` (a service that takes over) or `zones` (the proxy's own zone "
                "first, then the others), or both"
            )
        if self.to is None and self.subset is not None:
            raise ValueError("`subset` names a subset of `to`; give `to` as well")
        if self.zones is not None and len(set(self.zones)) != len(self.zones):
            raise ValueError("`zones` names a zone twice; name each zone once")
        return self


LbPolicy = Literal["round-robin", "least-request", "random", "ring-hash", "maglev"]
HASHING_POLICIES = frozenset({"ring-hash", "maglev"})
SLOW_START_POLICIES = frozenset({"round-robin", "least-request"})


class HashOn(Part):
    """What ring-hash and maglev hash to pick a host: one request header, cookie or the client."""

    header: str | None = Field(default=None, min_length=1)
    cookie: str | None = Field(default=None, min_length=1)
    source_ip: bool | None = None

    @model_validator(mode="after")
    def _one_key(self) -> HashOn:
        chosen = [self.header is not None, self.cookie is not None, bool(self.source_ip)]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of `header`, `cookie` or `sourceIp: true`")
        return self


class SlowStart(Part):
    """A new host's share grows over `window` instead of starting at its full weight."""

    window: PositiveDuration
    aggression: float | None = Field(default=None, gt=0, le=10)


class ZoneAware(Part):
    """Envoy's zone-aware routing: each proxy sends to its own zone's hosts while that zone has
    enough of them for the proxies in it. Needs `breakwater bootstrap --zone`."""

    min_cluster_size: int | None = Field(default=None, ge=1)
    """Below this many hosts in the cluster Envoy spreads over every zone (Envoy default 6)."""
    routing_percent: Percent | None = None
    """The share of requests routed zone-aware at all (Envoy default 100)."""


class LoadBalancer(Part):
    policy: LbPolicy = "round-robin"
    hash_on: HashOn | None = None
    slow_start: SlowStart | None = None
    zone_aware: ZoneAware | None = None

    @model_validator(mode="after")
    def _fits_the_policy(self) -> LoadBalancer:
        hashing = self.policy in HASHING_POLICIES
        if hashing and self.hash_on is None:
            raise ValueError(
                f"`{self.policy}` needs `hashOn` (header, cookie or sourceIp): without a key "
                "Envoy hashes nothing and picks hosts at random"
            )
        if not hashing and self.hash_on is not None:
            raise ValueError(
                f"`hashOn` is for ring-hash and maglev; `{self.policy}` does not hash: "
                "remove it or change `policy`"
            )
        if self.zone_aware is not None and hashing:
            raise ValueError(
                f"Envoy has zone-aware routing for round-robin, least-request and random, not "
                f"`{self.policy}`: remove `zoneAware` or change `policy`"
            )
        if self.slow_start is not None and self.policy not in SLOW_START_POLICIES:
            raise ValueError(
                f"Envoy has slow start only for round-robin and least-request, not "
                f"`{self.policy}`: remove `slowStart` or change `policy`"
            )
        return self


class ResilienceSpec(Model):
    target_ref: TargetRef | None = None
    circuit_breaker: CircuitBreaker | None = None
    bulkhead: Bulkhead | None = None
    retry: Retry | None = None
    timeout: Timeout | None = None
    health_check: HealthCheck | None = None
    failover: Failover | None = None
    fallback: Fallback | None = None
    load_balancer: LoadBalancer | None = None


# --- Gateway -----------------------------------------------------------------


class NodeSelector(Part):
    """Which proxies get a gateway: by `node.cluster`, and by `node.metadata` string values."""

    cluster: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    def matches(self, node_cluster: str, node_metadata: dict[str, str]) -> bool:
        if self.cluster is not None and self.cluster != node_cluster:
            return False
        return all(node_metadata.get(k) == v for k, v in self.metadata.items())


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(
            f"{value!r} is not an absolute path; give the file's absolute path on the Envoy "
            "host (Envoy reads it, Breakwater does not)"
        )
    return value


HostPath = Annotated[str, Field(min_length=1), AfterValidator(_absolute_path)]
"""A file on the Envoy host, by absolute path: Envoy opens it, the control plane never does."""


class GatewayTls(Model):
    """TLS termination: the certificate Envoy presents, as files on the Envoy host.

    Both files are required together. Envoy reads them itself; Breakwater
    only names them, so no key material passes through the control plane.
    """

    certificate_chain: HostPath
    """PEM certificate chain, the server's certificate first."""
    private_key: HostPath
    """PEM private key of that certificate."""


class GatewaySpec(Model):
    address: str = "0.0.0.0"
    port: Port
    node_selector: NodeSelector | None = None
    tls: GatewayTls | None = None
    """Terminate TLS on the listener (HTTPS); without it the listener speaks plain HTTP."""
    rate_limit: RateLimit | None = None
    """One bucket for every request the gateway takes that no route or rule limits itself."""
    limits: GatewayLimits | None = None
    """Connection limits of the listener, so a flood of connections cannot crowd out traffic."""
    rate_limit_service: Name | None = None
    """The Service (protocol grpc) that runs Envoy's rate-limit service: it counts every
    `rateLimit.global` of this gateway, its routes and their rules, for every proxy at once."""


# --- Documents -------------------------------------------------------------------


class Document(Model):
    api_version: Literal["breakwater.dev/v1alpha1"]
    metadata: Metadata

    @property
    def name(self) -> str:
        return self.metadata.name


ENDPOINTS_FROM = "breakwater.dev/endpoints-from"
"""Annotation of a Service whose endpoints a source fills in (`EndpointSlices` on Kubernetes):
it may have none at a given moment (every pod gone), and is still a Service routes can name."""


class Service(Document):
    kind: Literal["Service"]
    spec: ServiceSpec

    @model_validator(mode="after")
    def _reachable(self) -> Service:
        spec = self.spec
        if (
            spec.dns is None
            and not spec.endpoints
            and spec.registration is None
            and ENDPOINTS_FROM not in self.metadata.annotations
        ):
            raise ValueError(
                "spec: give `endpoints` (address, port, labels), `dns` (name, port) or "
                "`registration: {}` (instances register themselves)"
            )
        return self


class ResiliencePolicy(Document):
    kind: Literal["ResiliencePolicy"]
    spec: ResilienceSpec


class Gateway(Document):
    kind: Literal["Gateway"]
    spec: GatewaySpec
