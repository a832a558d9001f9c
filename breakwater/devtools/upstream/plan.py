"""Deciding each request's fate, and counting what happened, behind one lock.

The behaviour, the request sequence, the random draws, the memory of first
attempts and the counters change together and from several threads (the
server's loop, a test changing the behaviour mid-run, the control API), so
they live in one object with one lock. The HTTP handlers only ask it for a
`Plan` and report back; nothing here knows about sockets.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Unpack

from breakwater.devtools.upstream.behavior import (
    Behavior,
    BehaviorChanges,
    SeenRequest,
    UpstreamStats,
)

# A retry reuses the request id of the first attempt, so the ids already seen
# must be remembered; the bound keeps a long benchmark from growing memory.
_SEEN_IDS_LIMIT = 100_000
SEEN_REQUESTS_LIMIT = 2_000
"""The most recent requests kept as they arrived; enough for any one test's batch."""


@dataclass(frozen=True)
class Plan:
    """What to do with one request, fixed when it arrives."""

    sequence: int
    delay: float
    reset: bool
    fail: bool
    delayed_first_attempt: bool


@dataclass
class _MutableStats:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    resets: int = 0
    delayed_first_attempts: int = 0
    health_checks: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def count_status(self, status: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def freeze(self) -> UpstreamStats:
        return UpstreamStats(
            requests=self.requests,
            by_status=dict(self.by_status),
            resets=self.resets,
            delayed_first_attempts=self.delayed_first_attempts,
            health_checks=self.health_checks,
            in_flight=self.in_flight,
            max_in_flight=self.max_in_flight,
        )


class RequestPlanner:
    """The behaviour in force, the request sequence and the counters of one upstream."""

    def __init__(self, behavior: Behavior) -> None:
        self._lock = threading.Lock()
        self._behavior = behavior
        self._rng = random.Random(behavior.seed)
        self._seen_ids: OrderedDict[str, None] = OrderedDict()
        self._sequence = 0
        self._stats = _MutableStats()
        self._seen: deque[SeenRequest] = deque(maxlen=SEEN_REQUESTS_LIMIT)

    @property
    def behavior(self) -> Behavior:
        return self._behavior

    def set_behavior(self, behavior: Behavior) -> None:
        """Replace the whole behaviour; restarts the random sequence from its seed."""
        with self._lock:
            self._apply(behavior, reseed=True)

    def configure(self, **changes: Unpack[BehaviorChanges]) -> Behavior:
        """Change some fields and keep the others; returns the behaviour now in force."""
        with self._lock:
            behavior = dataclasses.replace(self._behavior, **changes)
            self._apply(behavior, reseed="seed" in changes)
            return behavior

    def update_from_json(self, data: Mapping[str, Any], *, replace: bool) -> None:
        """Apply decoded JSON fields, on the defaults (`replace`) or on the behaviour in force.

        Raises ValueError, changing nothing, when a field is unknown or of the wrong type.
        """
        with self._lock:
            behavior = Behavior.from_json(data, None if replace else self._behavior)
            self._apply(behavior, reseed=replace or "seed" in data)

    def _apply(self, behavior: Behavior, *, reseed: bool) -> None:
        # Reseeding only when asked keeps a seeded run reproducible across
        # unrelated changes such as toggling health mid-test.
        if reseed:
            self._rng = random.Random(behavior.seed)
        if (
            behavior.first_attempt_header != self._behavior.first_attempt_header
            or behavior.first_attempt_values != self._behavior.first_attempt_values
            or behavior.first_attempt_delay != self._behavior.first_attempt_delay
        ):
            self._seen_ids.clear()
        self._behavior = behavior

    def stats(self) -> UpstreamStats:
        with self._lock:
            return self._stats.freeze()

    def reset_stats(self) -> None:
        """Zero the counters and the request sequence, so `fail_every` counts from here."""
        with self._lock:
            in_flight = self._stats.in_flight
            self._stats = _MutableStats(in_flight=in_flight, max_in_flight=in_flight)
            self._sequence = 0
            self._seen_ids.clear()
            self._seen.clear()

    def seen(self) -> list[SeenRequest]:
        """The last served requests as they arrived, oldest first."""
        with self._lock:
            return list(self._seen)

    def admit(
        self, headers: Mapping[str, str], seen: SeenRequest | None = None
    ) -> tuple[Plan, Behavior]:
        """Count a request in and decide its fate; the caller must `release` it when done."""
        with self._lock:
            if seen is not None:
                self._seen.append(seen)
            behavior = self._behavior
            self._sequence += 1
            sequence = self._sequence
            stats = self._stats
            stats.requests += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            reset = _chosen(sequence, behavior.reset_every, behavior.reset_fraction, self._rng)
            fail = sequence <= behavior.fail_first or _chosen(
                sequence, behavior.fail_every, behavior.fail_fraction, self._rng
            )
            delayed = self._first_sighting(headers, behavior)
            if delayed:
                stats.delayed_first_attempts += 1
            in_flight = stats.in_flight
        latency = behavior.latency
        if behavior.capacity and in_flight > behavior.capacity:
            latency *= in_flight / behavior.capacity
        delay = latency + (behavior.first_attempt_delay if delayed else 0.0)
        return Plan(sequence, delay, reset, fail and not reset, delayed), behavior

    def _first_sighting(self, headers: Mapping[str, str], behavior: Behavior) -> bool:
        if behavior.first_attempt_delay <= 0:
            return False
        value = headers.get(behavior.first_attempt_header)
        if value is None:
            return False
        if behavior.first_attempt_values and value not in behavior.first_attempt_values:
            return False
        if value in self._seen_ids:
            return False
        self._seen_ids[value] = None
        if len(self._seen_ids) > _SEEN_IDS_LIMIT:
            self._seen_ids.popitem(last=False)
        return True

    def count_reset(self) -> None:
        with self._lock:
            self._stats.resets += 1

    def count_status(self, status: int) -> None:
        with self._lock:
            self._stats.count_status(status)

    def release(self) -> None:
        """An admitted request is over, however it ended."""
        with self._lock:
            self._stats.in_flight -= 1

    def health_check(self) -> bool:
        """Count a health check; returns whether the upstream reports itself healthy."""
        with self._lock:
            self._stats.health_checks += 1
            return self._behavior.healthy


def _chosen(sequence: int, every: int, fraction: float, rng: random.Random) -> bool:
    if every > 0 and sequence % every == 0:
        return True
    # Draw only when a fraction is set, so a seeded run stays reproducible
    # regardless of which other faults are on.
    return fraction > 0 and rng.random() < fraction
