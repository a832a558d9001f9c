"""The parts of Istio's `networking.istio.io` VirtualService and DestinationRule the importer reads.

v1alpha3, v1beta1 and v1 share one schema, so one set of models reads all
three. Unknown fields are allowed here, not refused: the importer must list
every field it did not carry over, so it keeps them (the ledger walks the raw
document to find them) instead of failing on the first one it does not know.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1alpha3", "v1beta1", "v1")
ISTIO_API_VERSIONS = tuple(f"{ISTIO_GROUP}/{v}" for v in ISTIO_VERSIONS)


class IstioModel(BaseModel):
    """Istio's camelCase field names; fields the importer does not read are kept, not refused."""

    model_config = ConfigDict(
        extra="allow", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class ObjectMeta(IstioModel):
    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# --- VirtualService ------------------------------------------------------------------


class StringMatch(IstioModel):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


class Percentage(IstioModel):
    value: float


class PortSelector(IstioModel):
    number: int | None = None


class Destination(IstioModel):
    host: str
    subset: str | None = None
    port: PortSelector | None = None


class HeaderOperations(IstioModel):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class Headers(IstioModel):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class RouteDestination(IstioModel):
    destination: Destination
    weight: int | None = None
    headers: Headers | None = None


class MatchRequest(IstioModel):
    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    query_params: dict[str, StringMatch] = Field(default_factory=dict)


class Retry(IstioModel):
    attempts: int | None = None
    per_try_timeout: str | None = None
    retry_on: str | None = None


class Delay(IstioModel):
    fixed_delay: str | None = None
    percentage: Percentage | None = None
    percent: int | None = None


class Abort(IstioModel):
    http_status: int | None = None
    percentage: Percentage | None = None


class FaultInjection(IstioModel):
    delay: Delay | None = None
    abort: Abort | None = None


class Rewrite(IstioModel):
    uri: str | None = None
    authority: str | None = None


class Redirect(IstioModel):
    uri: str | None = None
    authority: str | None = None
    port: int | None = None
    scheme: str | None = None
    redirect_code: int | None = None


class MirrorPolicy(IstioModel):
    destination: Destination
    percentage: Percentage | None = None


class HttpRoute(IstioModel):
    name: str | None = None
    match: list[MatchRequest] = Field(default_factory=list)
    route: list[RouteDestination] = Field(default_factory=list)
    redirect: Redirect | None = None
    rewrite: Rewrite | None = None
    timeout: str | None = None
    retries: Retry | None = None
    fault: FaultInjection | None = None
    mirror: Destination | None = None
    mirror_percentage: Percentage | None = None
    mirror_percent: int | None = None
    mirrors: list[MirrorPolicy] = Field(default_factory=list)
    headers: Headers | None = None


class VirtualServiceSpec(IstioModel):
    hosts: list[str] = Field(default_factory=list)
    gateways: list[str] = Field(default_factory=list)
    http: list[HttpRoute] = Field(default_factory=list)


class VirtualService(IstioModel):
    api_version: str
    kind: Literal["VirtualService"]
    metadata: ObjectMeta
    spec: VirtualServiceSpec


# --- DestinationRule -----------------------------------------------------------------


class HttpCookie(IstioModel):
    name: str


class ConsistentHash(IstioModel):
    http_header_name: str | None = None
    http_cookie: HttpCookie | None = None
    use_source_ip: bool | None = None


class WarmupConfig(IstioModel):
    duration: str | None = None
    aggression: Percentage | None = None


class LoadBalancerSettings(IstioModel):
    simple: str | None = None
    consistent_hash: ConsistentHash | None = None
    warmup_duration_secs: str | None = None
    warmup: WarmupConfig | None = None


class TcpSettings(IstioModel):
    max_connections: int | None = None
    connect_timeout: str | None = None


class HttpSettings(IstioModel):
    http1_max_pending_requests: int | None = None
    http2_max_requests: int | None = None
    max_retries: int | None = None


class ConnectionPool(IstioModel):
    tcp: TcpSettings | None = None
    http: HttpSettings | None = None


class OutlierDetection(IstioModel):
    consecutive_errors: int | None = None
    consecutive5xx_errors: int | None = Field(default=None, alias="consecutive5xxErrors")
    consecutive_gateway_errors: int | None = None
    interval: str | None = None
    base_ejection_time: str | None = None
    max_ejection_percent: int | None = None
    min_health_percent: int | None = None
    split_external_local_origin_errors: bool | None = None
    consecutive_local_origin_failures: int | None = None


class TrafficPolicy(IstioModel):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPool | None = None
    outlier_detection: OutlierDetection | None = None


class IstioSubset(IstioModel):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(IstioModel):
    host: str
    traffic_policy: TrafficPolicy | None = None
    subsets: list[IstioSubset] = Field(default_factory=list)


class DestinationRule(IstioModel):
    api_version: str
    kind: Literal["DestinationRule"]
    metadata: ObjectMeta
    spec: DestinationRuleSpec
