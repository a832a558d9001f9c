"""Protobuf's well-known types, filled in place.

`Duration.FromTimedelta` normalizes whatever it is given, signs included, and
a wrapper built apart and copied in (`CopyFrom(UInt32Value(value=n))`) makes
and copies a message each time: a full translation does either tens of
thousands of times. A policy's durations are never negative (validation
refuses them), so seconds and nanoseconds are written as they are.
"""

from __future__ import annotations

from datetime import timedelta

from google.protobuf import duration_pb2


def set_duration(target: duration_pb2.Duration, value: timedelta) -> None:
    """`target.FromTimedelta(value)`, for the non-negative durations of a policy."""
    if value < timedelta(0):
        target.FromTimedelta(value)
        return
    target.seconds = value.days * 86400 + value.seconds
    target.nanos = value.microseconds * 1000
