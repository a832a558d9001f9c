"""The Gateway API v1 documents Breakwater reads, as pydantic models, field for field.

Only what Breakwater can carry out is modelled, and unknown fields are
refused like everywhere else, so a field Breakwater would not honour is an
error with the list of the fields it does, never a silent no-op. The
shapes, defaults and enumerations are the Gateway API's (v1.2, Standard and
the Extended features listed in the README); `convert` turns a valid
document into Breakwater's own model.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, model_validator
from pydantic.alias_generators import to_camel

from breakwater.translators.model_parts import Model, Port, Regex

GROUP = "gateway.networking.k8s.io"
V1 = f"{GROUP}/v1"
V1BETA1 = f"{GROUP}/v1beta1"
CORE_GROUP = ""
"""Kubernetes' core API group, where `Service` lives."""
BREAKWATER_GROUP = "breakwater.dev"
SERVICE_SUBSET = "ServiceSubset"
"""The backendRef kind (group breakwater.dev) that names one subset: `name: <service>.<subset>`."""
DEFAULT_NAMESPACE = "default"

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(f"^{_LABEL}$")
_DNS_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_HOSTNAME = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")
_DURATION = re.compile(r"^([0-9]{1,5}(ms|h|m|s)){1,4}$")
_DURATION_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
_REGEX: TypeAdapter[str] = TypeAdapter(Regex)
"""The one check of a regular expression (RE2 as Envoy reads it), shared with Breakwater's kinds."""


def _object_name(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes object name: use lowercase letters, digits, '-' and "
            "'.', starting and ending with a letter or digit, at most 253 characters"
        )
    return value


def _namespace(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a namespace: use lowercase letters, digits and '-', starting and "
            "ending with a letter or digit, at most 63 characters"
        )
    return value


def _hostname(value: str) -> str:
    if len(value) > 253 or not _HOSTNAME.match(value):
        raise ValueError(
            f"{value!r} is not a hostname: give a lowercase name such as example.com, or a "
            "wildcard such as *.example.com, without a port or an IP address"
        )
    return value


def _duration(value: Any) -> timedelta:
    """The Gateway API's duration (GEP-2257): 1 to 4 parts of h, m, s or ms, e.g. `1m30s`, `500ms`."""
    if not isinstance(value, str) or not _DURATION.match(value):
        raise ValueError(
            f"{value!r} is not a Gateway API duration: give 1 to 4 parts of a number and h, m, s "
            "or ms, such as 500ms, 10s or 1m30s"
        )
    millis = sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(value))
    return timedelta(milliseconds=millis)


ObjectName = Annotated[str, AfterValidator(_object_name)]
Namespace = Annotated[str, AfterValidator(_namespace)]
SectionName = Annotated[str, AfterValidator(_namespace)]
Hostname = Annotated[str, AfterValidator(_hostname)]
GwDuration = Annotated[timedelta, BeforeValidator(_duration)]


class ObjectMeta(Model):
    name: ObjectName
    namespace: Namespace = DEFAULT_NAMESPACE
    """Kubernetes' rule: a document without one is in `default`."""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    """Older routes win ties of match precedence, as in the Gateway API."""


# --- Gateway ---------------------------------------------------------------------------


class RouteNamespaces(Model):
    from_: Literal["All", "Same"] = Field(default="Same", alias="from")


class RouteGroupKind(Model):
    group: str = GROUP
    kind: Literal["HTTPRoute", "GRPCRoute"]


class AllowedRoutes(Model):
    namespaces: RouteNamespaces = Field(default_factory=RouteNamespaces)
    kinds: list[RouteGroupKind] | None = None


class Listener(Model):
    name: SectionName
    hostname: Hostname | None = None
    port: Port
    protocol: Literal["HTTP"]
    allowed_routes: AllowedRoutes = Field(default_factory=AllowedRoutes)


class GatewayAddress(Model):
    type: Literal["IPAddress"] = "IPAddress"
    value: str


class GatewaySpec(Model):
    gateway_class_name: ObjectName
    listeners: list[Listener] = Field(min_length=1, max_length=64)
    addresses: list[GatewayAddress] = Field(default_factory=list, max_length=1)

    @model_validator(mode="after")
    def _one_port(self) -> GatewaySpec:
        names = [listener.name for listener in self.listeners]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"listener names must be unique; {', '.join(repeated)} repeats")
        ports = sorted({listener.port for listener in self.listeners})
        if len(ports) > 1:
            raise ValueError(
                f"the listeners use ports {', '.join(map(str, ports))}; a Breakwater gateway is "
                "one Envoy listener on one port: give each port its own Gateway"
            )
        return self


# --- references ------------------------------------------------------------------------------


class ParentReference(Model):
    group: str = GROUP
    kind: str = "Gateway"
    namespace: Namespace | None = None
    name: ObjectName
    section_name: SectionName | None = None
    port: Port | None = None


class BackendObjectReference(Model):
    group: str = CORE_GROUP
    kind: str = "Service"
    name: ObjectName
    namespace: Namespace | None = None
    port: Port | None = None
    """Accepted and not used: a Breakwater Service carries its endpoints' ports."""


# --- HTTPRoute -----------------------------------------------------------------------------------


class HTTPPathMatch(Model):
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = "/"

    @model_validator(mode="after")
    def _absolute(self) -> HTTPPathMatch:
        if self.type != "RegularExpression" and not self.value.startswith("/"):
            raise ValueError(f"path {self.value!r} must start with '/'")
        return self


class HTTPHeaderMatch(Model):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: str = Field(min_length=1, max_length=256)
    value: str = Field(max_length=4096)


class HTTPQueryParamMatch(Model):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: str = Field(min_length=1, max_length=256)
    value: str = Field(max_length=1024)


HTTPMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class HTTPRouteMatch(Model):
    path: HTTPPathMatch | None = None
    headers: list[HTTPHeaderMatch] = Field(default_factory=list, max_length=16)
    query_params: list[HTTPQueryParamMatch] = Field(default_factory=list, max_length=16)
    method: HTTPMethod | None = None

    @model_validator(mode="after")
    def _regex_is_re2(self) -> HTTPRouteMatch:
        patterns = [h.value for h in self.headers if h.type == "RegularExpression"]
        patterns += [q.value for q in self.query_params if q.type == "RegularExpression"]
        if self.path is not None and self.path.type == "RegularExpression":
            patterns.append(self.path.value)
        for pattern in patterns:
            _REGEX.validate_python(pattern)
        return self


class HTTPHeader(Model):
    name: str = Field(min_length=1, max_length=256)
    value: str = Field(max_length=4096)


class HTTPHeaderFilter(Model):
    set: list[HTTPHeader] = Field(default_factory=list, max_length=16)
    add: list[HTTPHeader] = Field(default_factory=list, max_length=16)
    remove: list[str] = Field(default_factory=list, max_length=16)


class HTTPPathModifier(Model):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    replace_full_path: str | None = None
    replace_prefix_match: str | None = None

    @model_validator(mode="after")
    def _value_of_its_type(self) -> HTTPPathModifier:
        wanted = "replaceFullPath" if self.type == "ReplaceFullPath" else "replacePrefixMatch"
        other = "replacePrefixMatch" if self.type == "ReplaceFullPath" else "replaceFullPath"
        if getattr(self, _snake(wanted)) is None:
            raise ValueError(f"type {self.type} needs `{wanted}`")
        if getattr(self, _snake(other)) is not None:
            raise ValueError(f"type {self.type} takes `{wanted}`, not `{other}`")
        return self


class HTTPRequestRedirectFilter(Model):
    scheme: Literal["http", "https"] | None = None
    hostname: str | None = None
    path: HTTPPathModifier | None = None
    port: Port | None = None
    status_code: Literal[301, 302, 303, 307, 308] = 302


class HTTPURLRewriteFilter(Model):
    hostname: str | None = None
    path: HTTPPathModifier | None = None


class Fraction(Model):
    numerator: int = Field(ge=0)
    denominator: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _at_most_one(self) -> Fraction:
        if self.numerator > self.denominator:
            raise ValueError("`numerator` must not be larger than `denominator`")
        return self


class HTTPRequestMirrorFilter(Model):
    backend_ref: BackendObjectReference
    percent: int | None = Field(default=None, ge=0, le=100)
    fraction: Fraction | None = None

    @model_validator(mode="after")
    def _one_share(self) -> HTTPRequestMirrorFilter:
        if self.percent is not None and self.fraction is not None:
            raise ValueError("give `percent` or `fraction`, not both")
        return self

    def share(self) -> float:
        """The percentage of requests copied (all of them unless told otherwise)."""
        if self.fraction is not None:
            return 100 * self.fraction.numerator / self.fraction.denominator
        return 100.0 if self.percent is None else float(self.percent)


FILTER_FIELDS: dict[str, str] = {
    "RequestHeaderModifier": "request_header_modifier",
    "ResponseHeaderModifier": "response_header_modifier",
    "RequestMirror": "request_mirror",
    "RequestRedirect": "request_redirect",
    "URLRewrite": "url_rewrite",
}
"""Filter type → the field that holds its settings."""


class HTTPRouteFilter(Model):
    type: Literal[
        "RequestHeaderModifier",
        "ResponseHeaderModifier",
        "RequestMirror",
        "RequestRedirect",
        "URLRewrite",
    ]
    request_header_modifier: HTTPHeaderFilter | None = None
    response_header_modifier: HTTPHeaderFilter | None = None
    request_mirror: HTTPRequestMirrorFilter | None = None
    request_redirect: HTTPRequestRedirectFilter | None = None
    url_rewrite: HTTPURLRewriteFilter | None = Field(default=None, alias="urlRewrite")

    @model_validator(mode="after")
    def _settings_of_its_type(self) -> HTTPRouteFilter:
        wanted = FILTER_FIELDS[self.type]
        if getattr(self, wanted) is None:
            raise ValueError(f"a {self.type} filter needs `{_camel(wanted)}`")
        extra = [_camel(f) for f in FILTER_FIELDS.values() if f != wanted and getattr(self, f)]
        if extra:
            raise ValueError(
                f"a {self.type} filter takes only `{_camel(wanted)}`; remove {', '.join(extra)}"
            )
        return self


class HTTPBackendRef(BackendObjectReference):
    weight: int = Field(default=1, ge=0, le=1_000_000)
    filters: list[HTTPRouteFilter] = Field(default_factory=list)


class HTTPRouteTimeouts(Model):
    request: GwDuration | None = None
    backend_request: GwDuration | None = None

    @model_validator(mode="after")
    def _backend_within_request(self) -> HTTPRouteTimeouts:
        request, backend = self.request, self.backend_request
        if request and backend and backend > request:
            raise ValueError(
                "`backendRequest` must not be longer than `request`, which covers every try of "
                "the request; shorten it, or lengthen `request`"
            )
        return self


class HTTPRouteRetry(Model):
    codes: list[Annotated[int, Field(ge=400, le=599)]] | None = None
    attempts: int | None = Field(default=None, ge=0, le=99)
    """Retries after the first try, as the Gateway API counts them."""
    backoff: GwDuration | None = None


class HTTPRouteRule(Model):
    name: SectionName | None = None
    matches: list[HTTPRouteMatch] = Field(default_factory=list, max_length=64)
    filters: list[HTTPRouteFilter] = Field(default_factory=list, max_length=16)
    backend_refs: list[HTTPBackendRef] = Field(default_factory=list, max_length=16)
    timeouts: HTTPRouteTimeouts | None = None
    retry: HTTPRouteRetry | None = None

    @model_validator(mode="after")
    def _filters_fit(self) -> HTTPRouteRule:
        types = [f.type for f in self.filters]
        redirects = "RequestRedirect" in types
        if redirects and "URLRewrite" in types:
            raise ValueError(
                "a rule cannot have both RequestRedirect and URLRewrite: the redirect answers the "
                "client, so nothing is forwarded to rewrite; keep one"
            )
        if redirects and self.backend_refs:
            raise ValueError(
                "a rule with a RequestRedirect filter answers the client itself and sends nothing "
                "to backendRefs; remove `backendRefs` or the redirect"
            )
        replaces_prefix = any(
            m is not None and m.path is not None and m.path.type == "ReplacePrefixMatch"
            for f in self.filters
            for m in (f.request_redirect, f.url_rewrite)
        )
        if replaces_prefix:
            for index, match in enumerate(self.matches):
                if match.path is not None and match.path.type != "PathPrefix":
                    raise ValueError(
                        f"ReplacePrefixMatch replaces the prefix a PathPrefix match matched, and "
                        f"matches[{index}] is a {match.path.type} match; use ReplaceFullPath, or "
                        "match with PathPrefix"
                    )
        return self


class HTTPRouteSpec(Model):
    parent_refs: list[ParentReference] = Field(min_length=1, max_length=32)
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[HTTPRouteRule] = Field(min_length=1, max_length=16)


# --- GRPCRoute -------------------------------------------------------------------------------------


class GRPCMethodMatch(Model):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    service: str | None = Field(default=None, min_length=1, max_length=1024)
    method: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _something(self) -> GRPCMethodMatch:
        if self.service is None and self.method is None:
            raise ValueError("give `service`, `method`, or both")
        if self.type == "Exact":
            for part in (self.service, self.method):
                if part is not None and "/" in part:
                    raise ValueError(f"{part!r} cannot hold '/' in an Exact match")
        else:
            for part in (self.service, self.method):
                if part is not None:
                    _REGEX.validate_python(part)
        return self


class GRPCRouteMatch(Model):
    method: GRPCMethodMatch | None = None
    headers: list[HTTPHeaderMatch] = Field(default_factory=list, max_length=16)


class GRPCRouteFilter(HTTPRouteFilter):
    @model_validator(mode="after")
    def _grpc_types(self) -> GRPCRouteFilter:
        if self.type in ("RequestRedirect", "URLRewrite"):
            raise ValueError(
                f"a GRPCRoute has no {self.type} filter; use RequestHeaderModifier, "
                "ResponseHeaderModifier or RequestMirror"
            )
        return self


class GRPCBackendRef(BackendObjectReference):
    weight: int = Field(default=1, ge=0, le=1_000_000)
    filters: list[GRPCRouteFilter] = Field(default_factory=list)


class GRPCRouteRule(Model):
    name: SectionName | None = None
    matches: list[GRPCRouteMatch] = Field(default_factory=list, max_length=64)
    filters: list[GRPCRouteFilter] = Field(default_factory=list, max_length=16)
    backend_refs: list[GRPCBackendRef] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _forwards(self) -> GRPCRouteRule:
        if not self.backend_refs:
            raise ValueError("give the rule `backendRefs`: the Services its calls go to")
        return self


class GRPCRouteSpec(Model):
    parent_refs: list[ParentReference] = Field(min_length=1, max_length=32)
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[GRPCRouteRule] = Field(min_length=1, max_length=16)


# --- ReferenceGrant ------------------------------------------------------------------------------------


class ReferenceGrantFrom(Model):
    group: str
    kind: str
    namespace: Namespace


class ReferenceGrantTo(Model):
    group: str
    kind: str
    name: ObjectName | None = None


class ReferenceGrantSpec(Model):
    from_: list[ReferenceGrantFrom] = Field(alias="from", min_length=1, max_length=16)
    to: list[ReferenceGrantTo] = Field(min_length=1, max_length=16)


# --- documents ---------------------------------------------------------------------------------------


class GatewayApiDocument(Model):
    """A Gateway API object as read; `status` is what a cluster wrote back, and is not read."""

    api_version: str
    kind: str
    metadata: ObjectMeta
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The name Breakwater gives it inside (and in Envoy): `<namespace>.<name>`."""
        return f"{self.metadata.namespace}.{self.metadata.name}"

    @property
    def namespace(self) -> str:
        return self.metadata.namespace


class GatewayDocument(GatewayApiDocument):
    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["Gateway"]
    spec: GatewaySpec


class HTTPRouteDocument(GatewayApiDocument):
    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["HTTPRoute"]
    spec: HTTPRouteSpec


class GRPCRouteDocument(GatewayApiDocument):
    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["GRPCRoute"]
    spec: GRPCRouteSpec


class ReferenceGrantDocument(GatewayApiDocument):
    api_version: Literal["gateway.networking.k8s.io/v1beta1"]
    kind: Literal["ReferenceGrant"]
    spec: ReferenceGrantSpec


RouteDocument = HTTPRouteDocument | GRPCRouteDocument


def _camel(field: str) -> str:
    return "urlRewrite" if field == "url_rewrite" else to_camel(field)


def _snake(field: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()
