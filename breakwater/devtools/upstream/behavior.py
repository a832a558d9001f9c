"""What the upstream is told to do, and what it counts: plain values, no server.

`Behavior` is the one description of the faults, accepted from Python, from
the command line and as JSON over `/__control`; keeping it apart from the
server lets each of those read and check it the same way. `UpstreamStats`
is the frozen copy of the counters that callers assert on, and
`SeenRequest` what one served request looked like when it arrived.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

DEFAULT_FIRST_ATTEMPT_HEADER = "x-request-id"


@dataclass(frozen=True)
class Behavior:
    """How the upstream treats the next requests.

    Faults are decided when a request arrives, from its sequence number
    among served requests (1-based), so `fail_every=2` fails exactly every
    second request even when requests overlap. When a request is chosen for
    both a reset and a failure, the reset wins.

    `first_attempt_delay` delays only the first request carrying a given
    value of `first_attempt_header` (optionally only the listed values); a
    retry of that request, which Envoy sends with the same `x-request-id`,
    is answered at once. That is what a per-try timeout test needs. The
    memory of seen values is per instance: a retry that Envoy sends to a
    different host is that host's first sighting and is delayed as well.
    """

    fail_fraction: float = 0.0
    fail_every: int = 0
    fail_first: int = 0
    """Fail the first this many requests counted since the last `reset_stats` (a backend that
    recovers: retried requests succeed on the attempt after)."""
    fail_status: int = 503
    latency: float = 0.0
    capacity: int = 0
    """Requests served at full speed at once (0: no limit). Past it the workers are shared:
    a request arriving with N in flight takes `latency * N / capacity`, so latency grows with
    concurrency as it does in a saturated server."""
    first_attempt_delay: float = 0.0
    first_attempt_header: str = DEFAULT_FIRST_ATTEMPT_HEADER
    first_attempt_values: tuple[str, ...] = ()
    reset_fraction: float = 0.0
    reset_every: int = 0
    healthy: bool = True
    response_headers: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("fail_fraction", "reset_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("fail_every", "fail_first", "reset_every", "capacity"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 turns it off)")
        for name in ("latency", "first_attempt_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds")
        if not 100 <= self.fail_status <= 599:
            raise ValueError(f"fail_status must be an HTTP status, got {self.fail_status}")
        if not self.first_attempt_header:
            raise ValueError("first_attempt_header must not be empty")
        # Lists arrive from JSON and from callers; a tuple keeps the value frozen.
        object.__setattr__(self, "first_attempt_values", tuple(self.first_attempt_values))
        object.__setattr__(self, "response_headers", dict(self.response_headers))

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["first_attempt_values"] = list(self.first_attempt_values)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], base: Behavior | None = None) -> Behavior:
        """Build a behaviour from decoded JSON, on top of `base` (defaults if absent).

        JSON gives no type guarantees, so every value is checked here; a
        wrong field name is an error rather than silently ignored, because a
        typo in a demo script would otherwise leave the fault off.
        """
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in _FIELD_CHECKS:
                known = ", ".join(sorted(_FIELD_CHECKS))
                raise ValueError(f"unknown behavior field {key!r}; known fields: {known}")
            changes[key] = _FIELD_CHECKS[key](key, value)
        return dataclasses.replace(base if base is not None else cls(), **changes)


class BehaviorChanges(TypedDict, total=False):
    """Keyword arguments accepted by `configure`: any subset of `Behavior`'s fields."""

    fail_fraction: float
    fail_every: int
    fail_first: int
    fail_status: int
    latency: float
    capacity: int
    first_attempt_delay: float
    first_attempt_header: str
    first_attempt_values: tuple[str, ...]
    reset_fraction: float
    reset_every: int
    healthy: bool
    response_headers: Mapping[str, str]
    seed: int | None


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _as_optional_int(name: str, value: Any) -> int | None:
    return None if value is None else _as_int(name, value)


def _as_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _as_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def _as_str_tuple(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    return tuple(value)


def _as_str_map(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{name} must be an object of string values, got {value!r}")
    return dict(value)


_FIELD_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "fail_fraction": _as_float,
    "fail_every": _as_int,
    "fail_first": _as_int,
    "fail_status": _as_int,
    "latency": _as_float,
    "capacity": _as_int,
    "first_attempt_delay": _as_float,
    "first_attempt_header": _as_str,
    "first_attempt_values": _as_str_tuple,
    "reset_fraction": _as_float,
    "reset_every": _as_int,
    "healthy": _as_bool,
    "response_headers": _as_str_map,
    "seed": _as_optional_int,
}
assert set(_FIELD_CHECKS) == {f.name for f in dataclasses.fields(Behavior)}


@dataclass(frozen=True)
class UpstreamStats:
    """Counters since start or the last reset.

    `requests` counts every served request, including those answered with an
    injected failure or reset; `by_status` counts responses actually sent.
    `max_in_flight` is the highest number of requests held at once, which is
    how a test sees that a concurrency limit upstream of this server held.
    """

    requests: int = 0
    by_status: Mapping[int, int] = field(default_factory=dict)
    resets: int = 0
    delayed_first_attempts: int = 0
    health_checks: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def status(self, code: int) -> int:
        return self.by_status.get(code, 0)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["by_status"] = {str(code): count for code, count in self.by_status.items()}
        return data


@dataclass(frozen=True)
class SeenRequest:
    """One served request as it arrived: what a proxy in front changed is visible here.

    `path` keeps the query string; header names are lower-cased, and a header
    sent more than once has its values joined with ", " as HTTP allows.
    """

    method: str
    path: str
    headers: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "headers": dict(self.headers)}
