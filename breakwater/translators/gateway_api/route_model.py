"""HTTPRoute and GRPCRoute as the Gateway API writes them: matches, filters, backends, rules.

The shapes, defaults and enumerations are the Gateway API's; what Breakwater
cannot carry out is left out of the models, so it is refused with the list of
what is allowed rather than ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from breakwater.translators.gateway_api.common import (
    REGEX,
    BackendObjectReference,
    GwDuration,
    Hostname,
    ParentReference,
    SectionName,
)
from breakwater.translators.model_parts import Model, Port

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
            REGEX.validate_python(pattern)
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
                    REGEX.validate_python(part)
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


def _camel(field: str) -> str:
    return "urlRewrite" if field == "url_rewrite" else to_camel(field)


def _snake(field: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()
