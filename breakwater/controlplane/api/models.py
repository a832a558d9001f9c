"""Every answer of the API, one Pydantic model each.

HTTP sends a model's JSON, the gRPC messages are filled from the same JSON
(`grpc_service.to_message`), the CLI reads answers back into these models
before printing its tables, and `/openapi.json` is their JSON schema.
A field is therefore added, renamed or documented here and nowhere else; the
protobuf messages carry a subset of it, checked by the tests.

Only Pydantic (and Literals of the state and fleet packages) is imported here,
so that `breakwater status` stays quick to start.
The models are built from what the controller, the stores, the fleet and the
xDS server already hold (their dataclasses stay their own, and none of them
imports this module); the constructors below are the only place that knows
how one maps onto the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from breakwater.controlplane.fleet.views import PolicyProxyState
from breakwater.controlplane.groups import ProxylessKey, group_label
from breakwater.controlplane.limits import MAX_FAILING_HOSTS
from breakwater.controlplane.state.weight_source import WeightSource

if TYPE_CHECKING:
    from breakwater.controlplane.fleet.views import PolicyStatusView, ServiceHealthView
    from breakwater.controlplane.state.controller import RuleWeightsView
    from breakwater.controlplane.state.drain_views import EndpointView
    from breakwater.controlplane.xds.status import StreamStatus, TypeStatus
    from breakwater.translators.overrides import DroppedOverride

Weight = Annotated[int, Field(ge=0)]
Revision = Annotated[int, Field(ge=0)]
RuleName = Annotated[str, Field(min_length=1)]

"""Where a rule's served weights come from: the YAML, or an API write laid over it."""

# The xDS server's own `SyncState` and `Mode`, repeated so that the CLI reads answers without
# importing gRPC; a test keeps them equal.
SyncState = Literal["waiting", "synced", "stale", "nacked"]
Mode = Literal["sotw", "delta"]


class ApiModel(BaseModel):
    """Frozen, documented by the attribute docstrings, and lenient about fields it does not know:
    the CLI of one version reads the answers of another."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        use_attribute_docstrings=True,
        serialize_by_alias=True,
        validate_by_alias=True,
        validate_by_name=True,
    )

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict: what HTTP sends, and what the gRPC messages are filled from."""
        return self.model_dump(mode="json")


def _drop_null_from_schema(schema: dict[str, Any]) -> None:
    """An optional field of a `SparseModel` is left out, never sent as null: say so in the schema."""
    for prop in schema.get("properties", {}).values():
        choices = prop.get("anyOf")
        if prop.get("default", ...) is None and isinstance(choices, list):
            kept = [c for c in choices if c != {"type": "null"}]
            del prop["anyOf"], prop["default"]
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept


class SparseModel(ApiModel):
    """A model whose unset optional fields are left out of the JSON rather than sent as null, as
    the answers have always done for the fields that only some cases have."""

    model_config = ConfigDict(json_schema_extra=_drop_null_from_schema)

    @model_serializer(mode="wrap")
    def _leave_out_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


# --- /v1/status ------------------------------------------------------------------------


class TypeSyncState(ApiModel):
    """Where one xDS type stands on one proxy's stream."""

    type: str
    """Short name: cds, eds, lds or rds."""
    type_url: str
    state: SyncState
    """synced (the proxy ACKed what it should have), stale (an update is on its way or held back
    for ordering), nacked (it rejected the latest), waiting (nothing sent yet)."""
    resources: int
    """Resources in the last response sent."""
    target_version: str
    """The version the current snapshot asks for."""
    sent_version: str
    sent_nonce: str
    sends: int
    acked_version: str
    nack_version: str
    nack_message: str
    """The proxy's error_detail for the last NACK, as it sent it."""
    nacks: int
    subscribed: list[str] = []
    """The names the proxy asked for (a gRPC client: the service it dials, then what that
    names); empty when it asked for every resource of the type (Envoy's CDS and LDS). A name
    asked for and not served was answered as not existing."""

    @classmethod
    def of(cls, status: TypeStatus) -> TypeSyncState:
        return cls(
            type=status.short_name,
            type_url=status.type_url,
            state=status.state,
            resources=status.resources,
            target_version=status.target_version,
            sent_version=status.sent_version,
            sent_nonce=status.sent_nonce,
            sends=status.sends,
            acked_version=status.acked_version,
            nack_version=status.nack_version,
            nack_message=status.nack_message,
            nacks=status.nacks,
            subscribed=list(status.subscribed),
        )


class ProxyStatus(ApiModel):
    """One connected proxy (an xDS stream whose node identified itself)."""

    node_id: str
    node_cluster: str
    protocol: Mode
    """sotw (State of the World) or delta."""
    group: str
    """The proxy's cache key: its node cluster and string metadata."""
    gateways: list[str]
    """The gateways whose nodeSelector the proxy matches."""
    peer: str
    connected_at: float
    """Seconds since the epoch."""
    synced: bool
    """Every type synced."""
    types: list[TypeSyncState]
    user_agent: str = ""
    """The node's `user_agent_name` and version: `envoy 1.40.0`, `gRPC C-core 1.85.3`..."""
    proxyless: bool = False
    """A gRPC client with its own xDS client (no Envoy): served every service it may dial."""

    @classmethod
    def of(cls, stream: StreamStatus, gateways: frozenset[str]) -> ProxyStatus:
        return cls(
            node_id=stream.node_id,
            node_cluster=stream.node_cluster,
            protocol=stream.mode,
            group=group_label(stream.group),
            gateways=sorted(gateways),
            peer=stream.peer,
            connected_at=stream.connected_at,
            synced=stream.synced,
            types=[TypeSyncState.of(t) for t in stream.types.values()],
            user_agent=stream.user_agent,
            proxyless=isinstance(stream.group, ProxylessKey),
        )


class DroppedOverrideStatus(ApiModel):
    """An override that no longer fits its rule, listed until the rule is written again."""

    route: str
    rule: int
    weights: dict[str, int]
    reason: str

    @classmethod
    def of(cls, dropped: DroppedOverride) -> DroppedOverrideStatus:
        return cls.model_validate(dropped, from_attributes=True)


class StoreStatus(SparseModel):
    """Where the state lives and whether it takes writes."""

    backend: str | None = None
    """sqlite:PATH or etcd://ENDPOINTS/PREFIX; left out of the probes' answer when reads need
    a token."""
    available: bool
    error: str | None = None
    """Why it is unavailable."""
    unavailable_since: float | None = None
    """Seconds since the epoch."""
    writes: str | None = None
    """What happens to writes meanwhile."""


class Replica(SparseModel):
    """One live control plane replica: this one first-hand, the others as they registered."""

    id: str
    xds_address: str
    admin_address: str
    policy_version: str
    state_revision: int
    config_version: str | None = None
    """This replica only: the others do not register it."""
    proxies: list[str]
    started_at: float
    """Seconds since the epoch."""
    is_self: bool = Field(alias="self")
    """The replica that answered."""
    store_available: bool | None = None
    """This replica only."""


# --- what the fleet reports (GET /v1/policies/{name}, the services in status) ------------


class ProxyPolicy(ApiModel):
    """One proxy's hold on one policy."""

    node_id: str
    group: str
    state: PolicyProxyState
    message: str = ""
    """Envoy's NACK text when rejected."""


class EndpointLoad(ApiModel):
    """One endpoint's requests over the window, from the proxies' load reports (LRS)."""

    address: str
    succeeded: int
    failed: int
    in_flight: int


class DetectorEjections(ApiModel):
    """The ejections one of Envoy's outlier detectors enforced on the cluster."""

    detector: str = Field(description="Envoy's name: consecutive_5xx, success_rate, ...")
    total: int = Field(description="since the control plane started")
    recent: int = Field(description="in the window")
    proxies: int = Field(description="proxies that enforced at least one in the window")


class FailingHost(ApiModel):
    """A host with the most failed requests in the window (load reports, LRS)."""

    address: str
    failed: int
    requests: int = Field(description="requests that completed, succeeded or failed")
    proxies_failing: int = Field(description="proxies on which it failed a request")
    proxies_reporting: int = Field(description="proxies whose load reports carry it")
    ejected_on: int = Field(
        description="proxies that eject hosts now and on which it is among the most failing: "
        "Envoy counts ejected hosts without naming them, so this is matched, not reported"
    )
    last_failed_at: float | None = Field(
        None, description="Unix time of the last load report in which it failed a request"
    )


class LiveEffect(ApiModel):
    """What one cluster (a service or one of its subsets) is doing now, over the fleet."""

    service: str
    subset: str | None
    cluster: str
    hosts: int | None = Field(
        None, description="hosts in the cluster (the largest view of any proxy)"
    )
    hosts_healthy: int | None = Field(None, description="the fewest healthy hosts any proxy sees")
    hosts_ejected: int | None = Field(None, description="the most hosts any proxy has ejected now")
    proxies_reporting: int = 0
    proxies_ejecting: int = 0
    requests_active: int = 0
    requests_pending: int = 0
    busiest_proxy_active: int = 0
    concurrency_limit: int | None = Field(
        None, description="bulkhead.maxConcurrentRequests, per proxy"
    )
    ejections_total: int = 0
    retries_total: int = 0
    bulkhead_rejections_total: int = 0
    timeouts_total: int = 0
    requests_total: int = 0
    window_seconds: float
    requests_per_second: float = 0.0
    retries_per_second: float = 0.0
    error_percent: float | None = Field(None, description="5xx share of responses in the window")
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    endpoints: list[EndpointLoad] = Field(default_factory=list)
    ejections_by_detector: list[DetectorEjections] = Field(default_factory=list)
    failing_hosts: list[FailingHost] = Field(
        default_factory=list,
        description=f"the hosts that failed most, most first (at most {MAX_FAILING_HOSTS})",
    )


class PolicyStatus(ApiModel):
    """A ResiliencePolicy: where it applies, how many proxies hold it, what it does now."""

    name: str
    target: str
    clusters: list[str]
    route_configs: list[str]
    proxies: dict[PolicyProxyState, int]
    rejections: list[ProxyPolicy]
    per_proxy: list[ProxyPolicy]
    effect: list[LiveEffect]
    not_applied: list[str] = []
    """What the proxyless gRPC clients holding the policy cannot carry out, one sentence per
    field (`not applied on 3 proxyless clients: least-request is not implemented by gRPC's
    xDS client`); they are sent the rest."""

    @classmethod
    def of(cls, view: PolicyStatusView) -> PolicyStatus:
        return cls.model_validate(view, from_attributes=True)


class ServiceHealth(ApiModel):
    """The short health line of one service or subset in `breakwater status`."""

    service: str
    subset: str | None
    hosts: int | None
    hosts_healthy: int | None
    hosts_ejected: int | None
    requests_per_second: float
    error_percent: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, view: ServiceHealthView) -> ServiceHealth:
        return cls.model_validate(view, from_attributes=True)


class ServiceEndpoint(SparseModel):
    """One endpoint of a service, and whether it is drained (out of rotation, finishing its
    requests)."""

    service: str
    endpoint: str
    """ADDRESS:PORT (IPv6 as [ADDRESS]:PORT), as drain and undrain name it."""
    in_service: bool
    """The YAML lists it. A drain of an endpoint the files no longer list is kept but applies
    to nothing until undrained (or until the endpoint is listed again)."""
    drained: bool
    """Sent to Envoy as DRAINING: no new requests, those in flight finish."""
    drained_by: str | None = None
    """Who drained it: `token@ADDRESS`, or `ADDRESS` without a token."""
    drained_at: float | None = None
    """Seconds since the epoch."""
    revision: Revision
    """The revision a compare-and-set drain or undrain names (0 when it is not drained)."""

    @classmethod
    def of(cls, view: EndpointView) -> ServiceEndpoint:
        drain = view.drain
        return cls(
            service=view.service,
            endpoint=view.endpoint,
            in_service=view.in_service,
            drained=drain is not None and view.in_service,
            drained_by=None if drain is None else drain.by,
            drained_at=None if drain is None else drain.at,
            revision=view.revision,
        )


class EndpointsResponse(ApiModel):
    """GET /v1/services/{service}/endpoints, ListEndpoints, `breakwater endpoints list`."""

    service: str
    endpoints: list[ServiceEndpoint]
    """The YAML's endpoints in its order, then drains of endpoints it no longer lists."""


class DrainRequest(ApiModel):
    """The optional body of PUT /v1/services/{service}/endpoints/{endpoint}/drain."""

    model_config = ConfigDict(extra="forbid")

    expected_revision: Revision | None = Field(default=None, alias="expectedRevision")
    """When given, the drain succeeds only if the endpoint's drain is still at this revision
    (0: it is not drained)."""


class StatusResponse(ApiModel):
    """GET /v1/status, GetStatus, `breakwater status`."""

    replicas: list[Replica]
    store: StoreStatus
    proxies: list[ProxyStatus]
    config_version: str
    """A hash over every snapshot served; empty before any proxy connected."""
    policy_version: str
    """A hash of the policy files' names and contents."""
    state_revision: int
    """Revision of the durable state served."""
    store_error: str | None
    """Why the last write to the store failed; null once one succeeds again."""
    load_errors: list[str]
    """Why the policy directory is refused (the last good config serves meanwhile)."""
    dropped_overrides: list[DroppedOverrideStatus]
    drained_endpoints: list[ServiceEndpoint] = []
    """Every drain, with who made it; `drained` is false for one the YAML no longer fits."""
    services: list[ServiceHealth] = []
    """Each service and subset the proxies report on: hosts, ejected, rate, 5xx, p99."""
    writes_need_token: bool = False
    """Writes need `Authorization: Bearer <token>`: the server has --token-file (the console
    offers its write controls only once a token is entered)."""


# --- weights -------------------------------------------------------------------------------


class Weights(SparseModel):
    """The effective weights of one HTTPRoute rule."""

    route: str
    rule: int
    """The rule's index, whether it was named by its index or its name."""
    weights: dict[str, Weight]
    """Backend label (its subset, or its service when it has none) → weight."""
    source: WeightSource
    """yaml, or override when an API write is laid over the YAML."""
    revision: Revision
    """The revision a compare-and-set write must name (0 when no override applies)."""
    rule_name: str | None = None
    """The rule's name in the YAML, when it has one."""

    @classmethod
    def of(cls, view: RuleWeightsView) -> Weights:
        return cls.model_validate(view, from_attributes=True)


class SetWeightsRequest(ApiModel):
    """The body of PUT /v1/routes/{route}/weights."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, Weight]
    """Every backend of the rule, by label."""
    rule: Revision | RuleName | None = None
    """The rule's index or name; default: the first rule with more than one backend."""
    expected_revision: Revision | None = Field(default=None, alias="expectedRevision")
    """When given, the write succeeds only if the rule's override is still at this revision."""

    @classmethod
    def documented_fields(cls) -> list[str]:
        """The body's keys as the OpenAPI document spells them."""
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def accepted_fields(cls) -> frozenset[str]:
        """Every key a body may have: the documented spelling and the Python one."""
        return frozenset(cls.documented_fields()) | frozenset(cls.model_fields)


# --- errors and probes ------------------------------------------------------------------------


class ErrorResponse(SparseModel):
    """Every refusal: a sentence that says what to do next."""

    error: str
    current_revision: int | None = None
    """A stale compare-and-set only: the revision to retry with."""

    def as_text(self) -> str:
        """For gRPC, which has no error body: the fields beside the sentence, appended to it."""
        extra = self.model_dump(mode="json", exclude={"error"})
        return self.error + "".join(f" ({k.replace('_', ' ')} {v})" for k, v in extra.items())


class Health(SparseModel):
    """GET /healthz and /readyz. An unavailable store does not make the server unready: the last
    state read keeps serving (every replica would go unready together otherwise)."""

    status: Literal["ok", "ready", "not ready"]
    reason: str | None = None
    """Why the server is not ready."""
    store: StoreStatus | None = None
