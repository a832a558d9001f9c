"""Durations as users write them (`250ms`, `5s`, `1m`) and as Envoy wants them.

Envoy's Duration is seconds plus nanos; users think in the units Hystrix and
Resilience4j taught them. Keeping one parser means the error text for a bad
duration is the same in every field.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS_IN_MICROSECONDS = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s|m|h)$")
DURATION_HELP = "a duration such as 250ms, 5s, 1.5s, 1m or 1h"


def parse_duration(value: Any) -> timedelta:
    """Accept only strings with a unit, so that `5` can never mean five of something unstated."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected {DURATION_HELP} (a string with a unit), got {value!r}")
    match = _DURATION.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not {DURATION_HELP}")
    number, unit = match.groups()
    microseconds = round(float(number) * _UNITS_IN_MICROSECONDS[unit])
    return timedelta(microseconds=microseconds)


def format_duration(value: timedelta) -> str:
    """Print the largest unit that keeps the value whole, so `explain` echoes what users wrote."""
    micros = round(value.total_seconds() * 1_000_000)
    for unit in ("h", "m", "s", "ms"):
        size = _UNITS_IN_MICROSECONDS[unit]
        if micros % size == 0 and micros >= size:
            return f"{micros // size}{unit}"
    if micros % 1_000 == 0:
        return f"{micros // 1_000}ms"
    return f"{micros}us"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
