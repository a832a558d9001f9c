"""Percentages as users write them (0 to 100, fractions allowed) → Envoy's FractionalPercent.

Faults and mirrors both take a share of requests; Envoy wants a numerator
over a fixed denominator, and one conversion keeps `10` and `0.5` meaning
the same in every field.
"""

from __future__ import annotations

from envoy.type.v3 import percent_pb2

_PER_MILLION = 10_000
"""Millionths in one percent."""


def fractional_percent(percent: float) -> percent_pb2.FractionalPercent:
    """Whole percentages over HUNDRED (as a config dump is read); others over MILLION.

    A millionth of a percent is below anything a sample of requests can
    show, so rounding there loses nothing a user could measure.
    """
    if float(percent).is_integer():
        return percent_pb2.FractionalPercent(
            numerator=int(percent), denominator=percent_pb2.FractionalPercent.HUNDRED
        )
    return percent_pb2.FractionalPercent(
        numerator=round(percent * _PER_MILLION),
        denominator=percent_pb2.FractionalPercent.MILLION,
    )
