"""What a run of requests produced: one record per request, and the tallies over them.

Assertions about resilience are assertions about these counts, so they are
plain frozen values, built the same way whether the requests went out as a
bounded batch (`batch`) or as steady traffic (`continuous`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class ErrorKind(StrEnum):
    """Why a request got no complete response.

    CONNECT means nothing accepted the connection (a listener not yet
    up); RESET means the peer dropped the connection before a full response
    (what a crashing backend or a proxy's upstream reset looks like to a
    client). Both are connection errors, kept apart from timeouts.
    """

    CONNECT = "connect"
    RESET = "reset"
    TIMEOUT = "timeout"
    OTHER = "other"


CONNECTION_ERRORS = frozenset({ErrorKind.CONNECT, ErrorKind.RESET})


@dataclass(frozen=True)
class ResponseRecord:
    """One request's outcome; `status` is None exactly when `error` is set."""

    index: int
    started: float
    latency: float
    status: int | None = None
    instance: str | None = None
    subset: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error: ErrorKind | None = None
    error_detail: str = ""

    @property
    def is_5xx(self) -> bool:
        return self.status is not None and 500 <= self.status <= 599


@dataclass(frozen=True)
class TrafficResult:
    """Everything that happened to a batch of requests, with the usual tallies.

    `records` is ordered by request index. `not_sent` counts requests that
    the time bound cut off before they started, so `total + not_sent` is
    what was asked for. `started` of each record and `duration` are seconds
    since the run began.
    """

    records: tuple[ResponseRecord, ...]
    duration: float
    not_sent: int = 0
    by_status: Counter[int] = field(init=False)
    by_instance: Counter[str] = field(init=False)
    by_subset: Counter[str] = field(init=False)
    by_error: Counter[ErrorKind] = field(init=False)
    header_counts: Counter[str] = field(init=False)

    def __post_init__(self) -> None:
        records = tuple(sorted(self.records, key=lambda record: record.index))
        object.__setattr__(self, "records", records)
        object.__setattr__(
            self, "by_status", Counter(r.status for r in records if r.status is not None)
        )
        object.__setattr__(
            self, "by_instance", Counter(r.instance for r in records if r.instance is not None)
        )
        object.__setattr__(
            self, "by_subset", Counter(r.subset for r in records if r.subset is not None)
        )
        object.__setattr__(
            self, "by_error", Counter(r.error for r in records if r.error is not None)
        )
        object.__setattr__(
            self, "header_counts", Counter(name for r in records for name in r.headers)
        )

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def responses(self) -> int:
        return self.by_status.total()

    @property
    def ok(self) -> int:
        """Responses with a 2xx status."""
        return sum(count for status, count in self.by_status.items() if 200 <= status <= 299)

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status; transport errors are not included."""
        return sum(count for status, count in self.by_status.items() if 500 <= status <= 599)

    @property
    def errors(self) -> int:
        """Requests that got no complete response, whatever the reason."""
        return self.by_error.total()

    @property
    def connection_errors(self) -> int:
        return sum(self.by_error[kind] for kind in CONNECTION_ERRORS)

    @property
    def timeouts(self) -> int:
        return self.by_error[ErrorKind.TIMEOUT]

    @property
    def latencies(self) -> list[float]:
        return [record.latency for record in self.records]

    @property
    def rate(self) -> float:
        """Requests completed per second over the whole run."""
        return self.total / self.duration if self.duration > 0 else 0.0

    def status_fraction(self, status: int) -> float:
        """Share of all requests (errors included) answered with `status`."""
        return self.by_status[status] / self.total if self.total else 0.0

    def instance_fraction(self, instance: str) -> float:
        return self.by_instance[instance] / self.total if self.total else 0.0

    def subset_fraction(self, subset: str) -> float:
        return self.by_subset[subset] / self.total if self.total else 0.0

    def with_header(self, name: str) -> list[ResponseRecord]:
        name = name.lower()
        return [record for record in self.records if name in record.headers]

    def latency_percentile(self, percent: float) -> float:
        """Nearest-rank percentile of all latencies (errors included), in seconds."""
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be between 0 and 100, got {percent}")
        latencies = sorted(self.latencies)
        if not latencies:
            return 0.0
        rank = max(1, math.ceil(percent / 100 * len(latencies)))
        return latencies[rank - 1]

    def summary(self) -> str:
        """One line for assertion messages and demo output."""
        statuses = ", ".join(f"{s}={c}" for s, c in sorted(self.by_status.items()))
        instances = ", ".join(f"{i}={c}" for i, c in sorted(self.by_instance.items()))
        errors = ", ".join(f"{e.value}={c}" for e, c in sorted(self.by_error.items()))
        return (
            f"{self.total} requests in {self.duration:.2f}s"
            f" (not sent {self.not_sent}); status: {statuses or '-'};"
            f" instances: {instances or '-'}; errors: {errors or '-'};"
            f" p50 {self.latency_percentile(50) * 1000:.1f}ms"
            f" p99 {self.latency_percentile(99) * 1000:.1f}ms"
        )
