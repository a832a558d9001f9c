"""The pieces every policy model is built from: the base model, names, percentages, durations.

`model` (the documents) and `traffic_model` (what a route rule does to the
traffic it carries) both use them, so they live apart from either; a name
or a percentage is then checked, and its error worded, in one place.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from breakwater.translators.durations import Duration
from breakwater.translators.shared_parts import fields_given_once, held_once

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

    @model_validator(mode="after")
    def _held_once(self) -> Self:
        """Its set of given fields is the one of every model that gave the same fields."""
        return fields_given_once(self)


_MODEL_STATE = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
"""What pydantic keeps of a model: its values, the fields given, extra fields, private ones."""


class Part(Model):
    """A part of a document that many documents repeat as it is (a retry, a health check,
    a subset, a match): equal parts are one object (`shared_parts`). A part that names what
    it belongs to (a backend, a target, an endpoint) is a `Model`: it is seldom equal to another;
    so are a gateway's limits and rate limit, which its listener holds by identity beside
    plain values only (a directory read afresh is translated afresh)."""

    def __init__(self, /, **data: Any) -> None:
        """A part made in code (`Retry(attempts=3)`) is an object of its own, and holds the
        fields of the equal part validated before, when there is one (validation then gives
        that part back instead of filling this one)."""
        held = self.__pydantic_validator__.validate_python(data, self_instance=self)
        if held is not self:
            for name in _MODEL_STATE:
                object.__setattr__(self, name, getattr(held, name))

    # Validation does not go through `__init__` (pydantic's own mark for its base `__init__`):
    # nested parts and `model_validate` keep their validation context and speed.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="wrap")
    @classmethod
    def _held_once(
        cls, data: Any, validate: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        """The part validated from equal data before, while one is held anywhere (not under a
        validation context: what a context allows, another may refuse)."""
        if info.context:
            return fields_given_once(validate(data))
        return held_once(cls, data, validate)


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


class HeaderMatch(Part):
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
    "Part",
    "Percent",
    "Port",
    "PositiveDuration",
    "RefName",
    "Regex",
    "Zone",
]
