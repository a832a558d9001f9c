"""What a route rule does to the traffic it carries, besides choosing its backends.

Fault injection, local rate limits, mirroring, header changes, redirects,
rewrites and fallback responses, as users write them. Header changes,
redirects and rewrites follow the Gateway API's HTTPRoute filters
(`RequestHeaderModifier`, `RequestRedirect`, `URLRewrite`), so a route
written for a Gateway API implementation reads the same here. Each field is
translated by its own slice (`faults`, `ratelimit`, `mirror`, `headers`,
`fallback`), which also says what Envoy makes of it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from breakwater.translators.durations import Duration, format_duration
from breakwater.translators.model_parts import (
    HeaderMatch,
    HttpStatus,
    Model,
    Name,
    Part,
    Percent,
    Port,
    PositiveDuration,
)

# --- fault injection ---------------------------------------------------------


def _check_abort_status(value: int) -> int:
    if not 200 <= value <= 599:
        raise ValueError(
            f"{value} cannot be injected: Envoy aborts with a status from 200 to 599; "
            "use 503 to look like an overloaded service, 500 for a failing one"
        )
    return value


AbortStatus = Annotated[int, AfterValidator(_check_abort_status)]


class FaultDelay(Part):
    """Hold requests before forwarding them, as a slow network or a slow dependency would."""

    duration: PositiveDuration
    percent: Percent


class FaultAbort(Part):
    """Answer requests with an error status without forwarding them."""

    status: AbortStatus
    percent: Percent


class Fault(Part):
    """A drill: delays and aborts injected by the proxy, optionally only into marked requests."""

    delay: FaultDelay | None = None
    abort: FaultAbort | None = None
    headers: list[HeaderMatch] = Field(default_factory=list)
    """Only requests that carry all of these headers get the fault (e.g. `x-drill: "true"`)."""

    @model_validator(mode="after")
    def _something_to_inject(self) -> Fault:
        if self.delay is None and self.abort is None:
            raise ValueError("give `delay` (duration, percent), `abort` (status, percent), or both")
        return self


# --- local rate limits -------------------------------------------------------------

MIN_RATE_LIMIT_PERIOD = timedelta(milliseconds=50)
"""Envoy refuses a token bucket that refills more often than every 50 ms."""


def _check_period(value: timedelta) -> timedelta:
    if value < MIN_RATE_LIMIT_PERIOD:
        raise ValueError(
            f"`per` {format_duration(value)} is shorter than Envoy's smallest refill interval "
            f"of {format_duration(MIN_RATE_LIMIT_PERIOD)}; give the rate per second instead "
            "(e.g. requests: 100, per: 1s)"
        )
    return value


def _check_requests(value: int) -> int:
    if value < 1:
        raise ValueError(
            f"a rate limit of {value} requests would refuse every request; allow at least 1, "
            "or inject `fault.abort` at 100 % to refuse everything on purpose"
        )
    return value


GLOBAL_UNITS = {
    timedelta(seconds=1): "second",
    timedelta(minutes=1): "minute",
    timedelta(hours=1): "hour",
    timedelta(days=1): "day",
}
"""The windows Envoy's rate-limit service counts in, by the `per` that names each."""


def _check_global_period(value: timedelta) -> timedelta:
    if value not in GLOBAL_UNITS:
        raise ValueError(
            f"`per` {format_duration(value)} is not a window the rate-limit service counts in; "
            "give 1s, 1m, 1h or 1d and scale `requests` to it (e.g. 600 per 1m for 10 per "
            "second on average)"
        )
    return value


class GlobalKey(Part):
    """What a global limit counts apart: each value of a request header, or each client address."""

    header: str | None = Field(default=None, min_length=1)
    client_address: bool | None = None

    @model_validator(mode="after")
    def _one_key(self) -> GlobalKey:
        if (self.header is not None) == bool(self.client_address):
            raise ValueError(
                "give exactly one of `header: NAME` (a counter per value of that header) or "
                "`clientAddress: true` (a counter per client address)"
            )
        return self


class GlobalRateLimit(Part):
    """One limit shared by every proxy, counted by Envoy's rate-limit service (on Redis)."""

    requests: Annotated[int, AfterValidator(_check_requests)]
    per: Annotated[Duration, AfterValidator(_check_global_period)]
    by: GlobalKey | None = None
    """Without it every request counts against one counter."""
    failure_mode: Literal["open", "closed"] = "open"
    """When the rate-limit service cannot answer: `open` lets the request through, `closed`
    answers 503."""


class RateLimit(Model):
    """A token bucket in each proxy (`requests` per `per`, room for `burst` at once), a `global`
    limit shared by every proxy, or both (a request must pass each)."""

    requests: Annotated[int, AfterValidator(_check_requests)] | None = None
    per: Annotated[Duration, AfterValidator(_check_period)] | None = None
    burst: int | None = None
    """The most requests let through at once after a quiet spell; defaults to `requests`."""
    global_: GlobalRateLimit | None = Field(default=None, alias="global")
    """Counted by the gateway's `rateLimitService`, whichever proxy takes the request."""

    @model_validator(mode="after")
    def _burst_holds_a_period(self) -> RateLimit:
        if (self.requests is None) != (self.per is None):
            raise ValueError(
                "a limit in each proxy needs both `requests` and `per` (e.g. requests: 100, "
                "per: 1s)"
            )
        if self.requests is None and self.global_ is None:
            raise ValueError(
                "give `requests` and `per` (a limit in each proxy), `global` (one limit shared "
                "by every proxy), or both"
            )
        if self.burst is not None and self.requests is None:
            raise ValueError("`burst` shapes the limit in each proxy: give `requests` and `per`")
        if self.burst is not None and self.requests is not None and self.burst < self.requests:
            raise ValueError(
                f"`burst` {self.burst} is below `requests` {self.requests}: the bucket could "
                f"never hold one period's requests; make `burst` at least {self.requests}, "
                "or leave it out"
            )
        return self

    @property
    def local(self) -> bool:
        """Whether it has a token bucket in each proxy."""
        return self.requests is not None


# --- mirroring -----------------------------------------------------------------------


class Mirror(Model):
    """Send a copy of requests to another service; its answers are thrown away."""

    service: Name
    subset: Name | None = None
    percent: Percent = 100


# --- header changes ------------------------------------------------------------------

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _check_header_name(value: str) -> str:
    if value.startswith(":"):
        raise ValueError(
            f"{value!r} is an HTTP/2 pseudo-header, which Envoy does not let routes change; "
            "change the path with `rewrite.path` and the host with `rewrite.host`"
        )
    if value.lower() == "host":
        raise ValueError("the host header is changed with `rewrite.host`, not as a header")
    if not _TOKEN.match(value):
        raise ValueError(
            f"{value!r} is not a header name: use letters, digits and !#$%&'*+-.^_`|~, no spaces"
        )
    return value


def _check_header_value(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError("a header value cannot hold line breaks or NUL; put it on one line")
    return value


HeaderName = Annotated[str, AfterValidator(_check_header_name)]
HeaderText = Annotated[str, AfterValidator(_check_header_value)]


class HeaderValue(Part):
    name: HeaderName
    value: HeaderText


class HeaderChanges(Part):
    """Gateway API's header modifier: `set` replaces, `add` appends a value, `remove` drops."""

    set: list[HeaderValue] = Field(default_factory=list)
    add: list[HeaderValue] = Field(default_factory=list)
    remove: list[HeaderName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _each_header_once(self) -> HeaderChanges:
        """Names are case-insensitive, and a header changed twice leaves the winner to order."""
        first_seen: dict[str, str] = {}
        lists = [
            ("set", [h.name for h in self.set]),
            ("add", [h.name for h in self.add]),
            ("remove", list(self.remove)),
        ]
        for where, names in lists:
            for name in names:
                first = first_seen.get(name.lower())
                if first is not None:
                    also = (
                        f"twice in `{where}`" if first == where else f"in `{first}` and `{where}`"
                    )
                    raise ValueError(
                        f"header {name!r} is named {also}; change each header once "
                        "(`set` already replaces any value it had)"
                    )
                first_seen[name.lower()] = where
        return self


# --- redirects and rewrites ------------------------------------------------------------

_HOSTNAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$")


def _check_hostname(value: str) -> str:
    if len(value) > 253 or not _HOSTNAME.match(value):
        raise ValueError(
            f"{value!r} is not a host name: give a name such as example.com, without a scheme, "
            "port or path (the port is `redirect.port`)"
        )
    return value


Hostname = Annotated[str, AfterValidator(_check_hostname)]


class PathModifier(Part):
    """Gateway API's path modifier: replace the whole path, or only the prefix the rule matched."""

    full: str | None = Field(default=None, pattern=r"^/")
    prefix: str | None = Field(default=None, pattern=r"^/")

    @model_validator(mode="after")
    def _one_kind(self) -> PathModifier:
        if (self.full is None) == (self.prefix is None):
            raise ValueError(
                "give exactly one of `full` (the new path) or `prefix` (what replaces the "
                "matched path prefix)"
            )
        return self


RedirectStatus = Literal[301, 302, 303, 307, 308]


class Redirect(Part):
    """Answer with a redirect instead of forwarding; every part left out keeps the request's."""

    scheme: Literal["http", "https"] | None = None
    host: Hostname | None = None
    port: Port | None = None
    path: PathModifier | None = None
    status_code: RedirectStatus = 302
    """Gateway API's default; Envoy's own would be 301."""


class DirectResponse(Part):
    """Answer every request of the rule with this status (and body), forwarding nothing: what a
    Gateway API rule whose backends all fail to resolve does (500), or a maintenance page."""

    status: HttpStatus
    body: str | None = None


class Rewrite(Part):
    """Change the request on its way to the backend: Gateway API's URLRewrite."""

    path: PathModifier | None = None
    host: Hostname | None = None

    @model_validator(mode="after")
    def _something_to_rewrite(self) -> Rewrite:
        if self.path is None and self.host is None:
            raise ValueError("give `path` (full or prefix), `host`, or both")
        return self


# --- fallback responses ------------------------------------------------------------------

FallbackCondition = Literal["no-healthy-host", "overflow", "timeout", "upstream-5xx"]
FALLBACK_CONDITIONS: tuple[FallbackCondition, ...] = (
    "no-healthy-host",
    "overflow",
    "timeout",
    "upstream-5xx",
)


class FallbackResponse(Part):
    """What the client gets instead of the failure; `status` left out keeps the failure's own."""

    status: HttpStatus | None = None
    body: str | None = None
    content_type: HeaderText | None = None
    headers: dict[HeaderName, HeaderText] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _says_something(self) -> FallbackResponse:
        if self.status is None and self.body is None:
            raise ValueError("give the fallback a `body`, a `status`, or both")
        if self.content_type is not None and any(
            name.lower() == "content-type" for name in self.headers
        ):
            raise ValueError("give the content type once: `contentType` or a header, not both")
        return self


class Fallback(Part):
    """The seed guide's fallback: a fixed answer when the backends cannot give one."""

    response: FallbackResponse
    on: list[FallbackCondition] = Field(
        default_factory=lambda: list(FALLBACK_CONDITIONS), min_length=1
    )

    @model_validator(mode="after")
    def _each_condition_once(self) -> Fallback:
        repeated = sorted({c for c in self.on if self.on.count(c) > 1})
        if repeated:
            raise ValueError(f"`on` names {', '.join(repeated)} more than once; list each once")
        return self
