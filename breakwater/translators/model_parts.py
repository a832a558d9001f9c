"""The pieces every policy model is built from: the base model, names, percentages, durations.

`model` (the documents) and `traffic_model` (what a route rule does to the
traffic it carries) both use them, so they live apart from either; a name
or a percentage is then checked, and its error worded, in one place.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from breakwater.translators.durations import Duration

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_HELP = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"


QUALIFIED_NAMES = "qualified_names"
"""Validation context key: the document was converted from a namespaced dialect (the Gateway
API), whose objects are named `<namespace>.<name>` so they never meet a Breakwater name."""
_QUALIFIED = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


def _check_name(value: str, info: ValidationInfo) -> str:
    if len(value) <= 63 and _NAME.match(value):
        return value
    if info.context and info.context.get(QUALIFIED_NAMES) and _QUALIFIED.match(value):
        return value
    raise ValueError(f"{value!r} is not a valid name: use {NAME_HELP}")


def _check_percent(value: float) -> float:
    if not 0 <= value <= 100:
        raise ValueError(f"{value} is not a percentage: use a number from 0 to 100")
    return value


def _check_positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


Name = Annotated[str, AfterValidator(_check_name)]


def _check_ref_name(value: str) -> str:
    if (len(value) <= 63 and _NAME.match(value)) or _QUALIFIED.match(value):
        return value
    raise ValueError(
        f"{value!r} is not a valid name: use {NAME_HELP} (a Gateway API object is named "
        "`<namespace>.<name>`, or referred to with `group`, `namespace` and `name`)"
    )


RefName = Annotated[str, AfterValidator(_check_ref_name)]
"""The name in a reference, which may be a Gateway API object's `<namespace>.<name>`."""
Percent = Annotated[float, AfterValidator(_check_percent)]
PositiveDuration = Annotated[Duration, AfterValidator(_check_positive_duration)]
Port = Annotated[int, Field(ge=1, le=65535)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]

_ZONE = re.compile(r"^[A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?$")
ZONE_HELP = "letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 characters"


def _check_zone(value: str) -> str:
    if len(value) <= 63 and _ZONE.match(value):
        return value
    raise ValueError(f"{value!r} is not a valid zone: use {ZONE_HELP} (e.g. eu-1a)")


Zone = Annotated[str, AfterValidator(_check_zone)]
"""Where an endpoint or a proxy runs: Envoy's `locality.zone`, compared exactly."""


class Model(BaseModel):
    """Base for everything a user writes: camelCase, unknown fields refused, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        strict=False,
    )


_RE2_UNSUPPORTED = re.compile(r"\(\?[=!<]|\\[1-9]")
"""Lookarounds and back-references: Python reads them, Envoy's RE2 refuses them."""


def _check_regex(value: str) -> str:
    """A pattern Envoy's RE2 takes (checked with Python's `re`, less the RE2-only refusals)."""
    if _RE2_UNSUPPORTED.search(value):
        raise ValueError(
            f"{value!r} uses a lookaround or a back-reference, which Envoy's RE2 regular "
            "expressions do not support; rewrite it without them"
        )
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(_check_regex)]
"""A regular expression matched against the whole value (RE2, as Envoy's `safe_regex`)."""


class HeaderMatch(Model):
    """A header a request must carry: route matches, rollout previews and fault drills use it."""

    name: str = Field(min_length=1)
    value: str | None = None
    present: bool | None = None
    regex: Regex | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> HeaderMatch:
        given = [self.value is not None, self.present is not None, self.regex is not None]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of `value` (exact match), `regex` (the whole value matches) "
                "or `present: true|false`"
            )
        return self


__all__ = [
    "NAME_HELP",
    "QUALIFIED_NAMES",
    "ZONE_HELP",
    "HeaderMatch",
    "HttpStatus",
    "Model",
    "Name",
    "Percent",
    "Port",
    "PositiveDuration",
    "RefName",
    "Regex",
    "Zone",
]
