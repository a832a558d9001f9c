"""Offered load past a service's capacity, and what came back: served rate, shed share, latency.

A concurrency limit is judged by two numbers under a load the service
cannot take: how much it still serves, and how fast. One limit sheds too
much (it serves less than the service could), another lets latency run away
(requests wait in a queue). `offer` sends an open-loop load (a steady rate,
not waiting for answers) for a warm-up and a measured spell, and `Outcome`
keeps only the measured spell, so the limit has settled.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from breakwater.devtools.traffic.continuous import ContinuousTraffic
from breakwater.devtools.traffic.results import ResponseRecord


@dataclass(frozen=True)
class Outcome:
    """What one spell of offered load got: rates per second, latencies in seconds."""

    offered: float
    served: float
    """Answers 200 per second."""
    shed: float
    """Share of requests not answered 200 (a local 503, a timeout)."""
    p50: float
    """Median latency of the answers 200 (0 when there were none)."""
    p99: float
    requests: int

    def summary(self) -> str:
        return (
            f"offered {self.offered:.0f}/s, served {self.served:.0f}/s, shed "
            f"{self.shed:.0%}, p50 {self.p50 * 1000:.0f} ms, p99 {self.p99 * 1000:.0f} ms "
            f"({self.requests} requests)"
        )


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def outcome(records: list[ResponseRecord], offered: float, duration: float) -> Outcome:
    ok = [r.latency for r in records if r.status == 200]
    return Outcome(
        offered=offered,
        served=len(ok) / duration,
        shed=1 - len(ok) / len(records) if records else 0.0,
        p50=_quantile(ok, 0.5),
        p99=_quantile(ok, 0.99),
        requests=len(records),
    )


def offer(
    url: str,
    rate: float,
    *,
    warmup: float,
    duration: float,
    timeout: float = 5.0,
    max_in_flight: int = 500,
) -> Outcome:
    """`rate` requests per second for `warmup` + `duration` seconds; the measured spell is the
    requests started after the warm-up. Bounded: it stops by itself after the two spells and
    the answers still in flight (at most `timeout`)."""
    traffic = ContinuousTraffic(
        url,
        rate=rate,
        timeout=timeout,
        max_in_flight=max_in_flight,
        max_duration=warmup + duration + timeout + 5.0,
    ).start()
    try:
        time.sleep(warmup + duration)
    finally:
        result = traffic.stop()
    measured = [r for r in result.records if warmup <= r.started < warmup + duration]
    return outcome(measured, rate, duration)
