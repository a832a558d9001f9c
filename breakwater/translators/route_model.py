"""The HTTPRoute document: its ordered rules, their matches and their backends.

Apart from `model.py` (Services, ResiliencePolicies, Gateways) because a route
holds its own concern: what a request is matched by and where it goes. The
route toolbox (faults, mirrors, header changes, redirects…) is in
`traffic_model.py`; both dialects' routes (Breakwater's and the Gateway API's)
end up in these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from breakwater.translators.model import Document, Retry, Timeout
from breakwater.translators.model_parts import HeaderMatch, Model, Name, Part, Regex
from breakwater.translators.traffic_model import (
    DirectResponse,
    Fallback,
    Fault,
    HeaderChanges,
    Mirror,
    RateLimit,
    Redirect,
    Rewrite,
)

# --- HTTPRoute -----------------------------------------------------------------


class PathMatch(Part):
    prefix: str | None = Field(default=None, pattern=r"^/")
    exact: str | None = Field(default=None, pattern=r"^/")
    regex: Regex | None = None
    """The whole path (without the query string) must match."""
    segment_prefix: str | None = Field(default=None, pattern=r"^/")
    """The path itself and every path below it, on `/` boundaries: `/api` takes `/api` and
    `/api/x` but not `/apix` (the Gateway API's PathPrefix; a trailing `/` changes nothing)."""

    @model_validator(mode="after")
    def _one_kind(self) -> PathMatch:
        given = (self.prefix, self.exact, self.regex, self.segment_prefix)
        if sum(v is not None for v in given) != 1:
            raise ValueError("give exactly one of `prefix`, `exact`, `regex` or `segmentPrefix`")
        return self

    def matched_prefix(self) -> str | None:
        """What a prefix rewrite replaces: the prefix as matched (None for whole-path matches)."""
        if self.prefix is not None:
            return self.prefix
        if self.segment_prefix is not None:
            return self.segment_prefix.rstrip("/") or "/"
        return None


class QueryParamMatch(Part):
    name: str = Field(min_length=1)
    value: str | None = None
    regex: Regex | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> QueryParamMatch:
        if (self.value is None) == (self.regex is None):
            raise ValueError("give exactly one of `value` (exact match) or `regex`")
        return self


HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class RouteMatch(Part):
    path: PathMatch | None = None
    headers: list[HeaderMatch] = Field(default_factory=list)
    query_params: list[QueryParamMatch] = Field(default_factory=list)
    method: HttpMethod | None = None


class Backend(Model):
    service: Name
    subset: Name | None = None
    weight: int = Field(default=1, ge=0, le=1_000_000)


class Sticky(Part):
    """Keep a client on one backend by hashing a request header (e.g. a user id)."""

    header: str = Field(min_length=1)


_FORWARDING_FIELDS = (
    "sticky",
    "retry",
    "timeout",
    "mirror",
    "request_headers",
    "rewrite",
    "fallback",
)
"""What only means something for a rule that forwards requests to backends."""


class RouteRule(Model):
    name: Name | None = None
    matches: list[RouteMatch] = Field(default_factory=list)
    backends: list[Backend] = Field(default_factory=list)
    sticky: Sticky | None = None
    retry: Retry | None = None
    timeout: Timeout | None = None
    fault: Fault | None = None
    rate_limit: RateLimit | None = None
    mirror: Mirror | None = None
    request_headers: HeaderChanges | None = None
    response_headers: HeaderChanges | None = None
    redirect: Redirect | None = None
    direct_response: DirectResponse | None = None
    rewrite: Rewrite | None = None
    fallback: Fallback | None = None

    def answers_itself(self) -> str | None:
        """`redirect` or `directResponse` when the rule answers the client without forwarding."""
        if self.redirect is not None:
            return "redirect"
        return "directResponse" if self.direct_response is not None else None

    @model_validator(mode="after")
    def _forwards_or_redirects(self) -> RouteRule:
        answer = self.answers_itself()
        if answer is None and not self.backends:
            raise ValueError(
                "give `backends` (where to send the requests), `redirect` (where to send "
                "the client) or `directResponse` (what to answer)"
            )
        if self.redirect is not None and self.direct_response is not None:
            raise ValueError("give `redirect` or `directResponse`, not both")
        if answer is not None:
            if self.backends:
                raise ValueError(
                    f"a rule with `{answer}` answers the client itself and sends nothing to "
                    f"backends; remove `backends` or `{answer}`"
                )
            for field in _FORWARDING_FIELDS:
                if getattr(self, field) is not None:
                    raise ValueError(
                        f"`{to_camel(field)}` shapes what is sent to the backends, and a rule "
                        f"with `{answer}` sends nothing; remove it or the {answer}"
                    )
        for what, modifier in (
            ("rewrite", self.rewrite.path if self.rewrite else None),
            ("redirect", self.redirect.path if self.redirect else None),
        ):
            if modifier is None or modifier.prefix is None:
                continue
            for index, match in enumerate(self.matches):
                if match.path is not None and match.path.matched_prefix() is None:
                    raise ValueError(
                        f"`{what}.path.prefix` replaces the path prefix a match matched, and "
                        f"matches[{index}] matches a whole path; use `{what}.path.full`, or "
                        "match with `path.prefix`"
                    )
        backends = {(b.service, b.subset) for b in self.backends}
        if self.mirror is not None and (self.mirror.service, self.mirror.subset) in backends:
            raise ValueError(
                "the mirror is also a backend of this rule and would get its requests twice; "
                "mirror to another service or subset"
            )
        return self

    @model_validator(mode="after")
    def _weights(self) -> RouteRule:
        if self.backends and sum(b.weight for b in self.backends) <= 0:
            raise ValueError(
                "the backends' weights add up to 0: give at least one backend a positive weight"
            )
        seen: set[tuple[str, str | None]] = set()
        for backend in self.backends:
            key = (backend.service, backend.subset)
            if key in seen:
                where = backend.service + (f" subset {backend.subset}" if backend.subset else "")
                raise ValueError(f"backend {where} is listed twice in one rule; list each once")
            seen.add(key)
        if self.timeout is not None and self.timeout.connect is not None:
            raise ValueError(
                "`timeout.connect` is a property of the upstream cluster: "
                "set it in a ResiliencePolicy, not in a route rule"
            )
        if self.retry is not None and self.retry.budget is not None:
            raise ValueError(
                "`retry.budget` is a property of the upstream cluster: "
                "set it in a ResiliencePolicy, not in a route rule"
            )
        return self


class HTTPRouteSpec(Model):
    gateways: list[Name] = Field(default_factory=list)
    """The Gateways whose proxies take this route (north-south traffic)."""
    services: list[Name] = Field(default_factory=list)
    """The Services whose callers this route steers (east-west traffic, the Gateway API's mesh
    profile): a proxyless gRPC client dialing `xds:///<service>` gets these rules."""
    hostnames: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    rules: list[RouteRule] = Field(min_length=1)
    rate_limit: RateLimit | None = None
    """One bucket for all of this route's rules that do not limit themselves."""

    @model_validator(mode="after")
    def _attached(self) -> HTTPRouteSpec:
        if not self.gateways and not self.services:
            raise ValueError(
                "give `gateways` (the Gateways whose proxies take this route), `services` (the "
                "Services whose callers it steers, for proxyless gRPC clients), or both"
            )
        return self


class HTTPRoute(Document):
    kind: Literal["HTTPRoute"]
    spec: HTTPRouteSpec


def rule_index_of(route: HTTPRoute, rule: int | str) -> int | None:
    """The index a rule reference means (a Rollout's `routeRef.rule`, the API's `rule`): an
    index in range, or the name of a rule."""
    rules = route.spec.rules
    if isinstance(rule, int):
        return rule if 0 <= rule < len(rules) else None
    for index, candidate in enumerate(rules):
        if candidate.name == rule:
            return index
    return None
