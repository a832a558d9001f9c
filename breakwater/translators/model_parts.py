"""The pieces every policy model is built from: the base model, names, percentages, durations.

`model` (the documents) and `traffic_model` (what a route rule does to the
traffic it carries) both use them, so they live apart from either; a name
or a percentage is then checked, and its error worded, in one place.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from breakwater.translators.durations import Duration

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_HELP = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"


def _check_name(value: str) -> str:
    if len(value) > 63 or not _NAME.match(value):
        raise ValueError(f"{value!r} is not a valid name: use {NAME_HELP}")
    return value


def _check_percent(value: float) -> float:
    if not 0 <= value <= 100:
        raise ValueError(f"{value} is not a percentage: use a number from 0 to 100")
    return value


def _check_positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
Percent = Annotated[float, AfterValidator(_check_percent)]
PositiveDuration = Annotated[Duration, AfterValidator(_check_positive_duration)]
Port = Annotated[int, Field(ge=1, le=65535)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]


class Model(BaseModel):
    """Base for everything a user writes: camelCase, unknown fields refused, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        strict=False,
    )


class HeaderMatch(Model):
    """A header a request must carry: route matches, rollout previews and fault drills use it."""

    name: str = Field(min_length=1)
    value: str | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> HeaderMatch:
        if (self.value is None) == (self.present is None):
            raise ValueError("give exactly one of `value` (exact match) or `present: true|false`")
        return self


__all__ = [
    "NAME_HELP",
    "HeaderMatch",
    "HttpStatus",
    "Model",
    "Name",
    "Percent",
    "Port",
    "PositiveDuration",
]
