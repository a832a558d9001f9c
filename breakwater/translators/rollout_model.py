"""The `Rollout` kind: progressive delivery of one HTTPRoute rule from stable to canary.

A rollout is a list of steps the control plane walks through by itself:
`setHeaderRoute` (requests with given headers go to the canary whatever the
weights), `setWeight` (the canary's share), `pause` (for a while, or until
`breakwater rollout promote`). Between steps, and while a pause lasts, the
analysis watches the canary's own numbers as the fleet reports them; a
failed gate rolls the canary back to 0 at once.

`stepWeight` / `maxWeight` / `interval` is the shorthand for the usual
"+10 every minute up to 50, then 100" canary; blue-green is a rollout whose
only weight step is 100, after a header stage and a pause.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from breakwater.translators.durations import Duration
from breakwater.translators.gateway_api.refs import gateway_api_ref
from breakwater.translators.model import Document
from breakwater.translators.model_parts import (
    HeaderMatch,
    Model,
    Name,
    Part,
    PositiveDuration,
    RefName,
)


class RouteRef(Model):
    group: Literal["breakwater.dev", "gateway.networking.k8s.io"] | None = None
    """`gateway.networking.k8s.io` for a Gateway API route (read into `name`)."""
    kind: Literal["HTTPRoute", "GRPCRoute"] = "HTTPRoute"
    namespace: str | None = None
    """A Gateway API route's namespace (read into `name`; `default` when left out)."""
    name: RefName
    """The HTTPRoute (a Gateway API route: `<namespace>.<name>`, or give `group` and `namespace`)."""
    rule: int | Name = 0
    """The rule: its index, or its `name`."""

    @model_validator(mode="before")
    @classmethod
    def _gateway_api(cls, data: Any) -> Any:
        return gateway_api_ref(data, {"HTTPRoute": "HTTPRoute", "GRPCRoute": "GRPCRoute"})


class HeaderRoute(Part):
    headers: list[HeaderMatch] = Field(min_length=1)


class Pause(Part):
    duration: Duration | None = None
    """How long to hold; none: until `breakwater rollout promote`."""


class Step(Part):
    """Exactly one of the fields."""

    set_weight: int | None = Field(None, ge=0, le=100)
    set_header_route: HeaderRoute | None = None
    pause: Pause | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [
            to_camel(k)
            for k in ("set_weight", "set_header_route", "pause")
            if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "a step is exactly one of setWeight, setHeaderRoute or pause"
                + (f"; this one has {', '.join(given)}" if given else "")
            )
        return self


class SuccessRate(Part):
    min: float = Field(ge=0, le=100)
    """Percent of the canary's responses that are not 5xx."""


class Latency(Part):
    percentile: Literal[50, 95, 99] = 99
    max: Duration


class Analysis(Part):
    interval: PositiveDuration = timedelta(seconds=30)
    """How often the canary's numbers are judged, and how long a window each judgement looks at."""
    min_requests: int = Field(50, ge=1)
    """Fewer canary responses in an interval: inconclusive, the step holds (never promotes on silence)."""
    failure_limit: int = Field(2, ge=1)
    """Failed intervals (in a row or not) that roll the canary back."""
    success_rate: SuccessRate | None = None
    latency: Latency | None = None
    max_error_rate_increase: float | None = Field(None, ge=0, le=100)
    """Canary 5xx % minus stable 5xx %, in percentage points."""


WEBHOOK_SCHEMES = ("http", "https")
_URL = re.compile(
    r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):)?(?://(?:[^@/?#]*@)?(?P<host>\[[^\]]*\]|[^:/?#]*))?"
)
"""RFC 3986's scheme and host (the translators do no I/O, so no urllib here)."""
MAX_WEBHOOK_TIMEOUT = timedelta(seconds=30)
"""As Kubernetes admission webhooks (`timeoutSeconds` at most 30): a hook that needs
longer holds its rollout longer than an analysis interval is worth."""


class Webhook(Part):
    type: Literal["pre-rollout", "confirm-promotion", "rollback", "event"]
    url: str
    """An http or https URL; where it may point is limited by `serve --webhook-allow`."""
    timeout: PositiveDuration = timedelta(seconds=5)

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        parts = _URL.match(url)
        scheme = (parts.group("scheme") if parts else None) or ""
        if scheme.lower() not in WEBHOOK_SCHEMES:
            raise ValueError(
                f"a webhook URL must be http or https, not {scheme or 'without a scheme'!r}; "
                "give the hook's http(s)://HOST/PATH"
            )
        if parts is None or not (parts.group("host") or "").strip("[]"):
            raise ValueError("the webhook URL names no host; give it as http(s)://HOST/PATH")
        return url

    @field_validator("timeout")
    @classmethod
    def _at_most_30_s(cls, timeout: timedelta) -> timedelta:
        limit = MAX_WEBHOOK_TIMEOUT.total_seconds()
        if timeout > MAX_WEBHOOK_TIMEOUT:
            raise ValueError(
                f"a webhook timeout is at most {limit:g} s, not {timeout.total_seconds():g} s; "
                "a hook that needs longer should answer at once and be asked again (each "
                "analysis interval)"
            )
        return timeout


class RolloutSpec(Model):
    route_ref: RouteRef
    stable: Name
    """The stable backend's label in that rule (its subset, or its service)."""
    canary: Name
    steps: list[Step] = Field(default_factory=list)
    step_weight: int | None = Field(None, ge=1, le=100)
    max_weight: int | None = Field(None, ge=1, le=100)
    interval: Duration | None = None
    """Shorthand: pause this long after each `stepWeight` increase."""
    analysis: Analysis = Field(default_factory=Analysis)
    webhooks: list[Webhook] = Field(default_factory=list)

    @model_validator(mode="after")
    def _steps_or_shorthand(self) -> RolloutSpec:
        shorthand = self.step_weight is not None or self.max_weight is not None
        if self.steps and shorthand:
            raise ValueError("give either `steps` or `stepWeight`/`maxWeight`, not both")
        if not self.steps and self.step_weight is None:
            raise ValueError("give the rollout `steps`, or `stepWeight` (with `maxWeight`)")
        if self.stable == self.canary:
            raise ValueError("`stable` and `canary` must be two different backends of the rule")
        return self

    def plan(self) -> list[Step]:
        """The steps to walk: the explicit ones, or those the shorthand stands for."""
        if self.steps:
            return list(self.steps)
        assert self.step_weight is not None
        top = self.max_weight or 100
        wait = Pause(duration=self.interval or self.analysis.interval)
        out: list[Step] = []
        weight = 0
        while weight < top:
            weight = min(top, weight + self.step_weight)
            out += [Step(set_weight=weight), Step(pause=wait)]
        if top < 100:
            out.append(Step(set_weight=100))
        return out


class Rollout(Document):
    kind: Literal["Rollout"]
    spec: RolloutSpec
