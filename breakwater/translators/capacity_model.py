"""What a service or a gateway can take: an adaptive concurrency limit, and a gateway's limits.

`model` holds the documents; these two parts are the resilience toolbox's
second round of capacity settings and are kept apart so that each document
module stays readable.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from breakwater.translators.model_parts import HttpStatus, Model, Part, Percent, PositiveDuration

DEFAULT_SAMPLE_WINDOW = timedelta(milliseconds=100)
"""Envoy requires a sampling window and has no default; Breakwater's choice, short enough for
the limit to follow a change of load within a second (it can at most double per window)."""


class AdaptiveConcurrency(Part):
    """Netflix's concurrency-limits idea as Envoy builds it (the gradient controller).

    Envoy measures the minimum round-trip time of the route's requests, then
    every `sampleWindow` compares the latency of that window with it and
    scales the limit by the ratio: latency above the minimum (plus `tolerance`)
    shrinks the limit, latency at the minimum lets it grow, between `minLimit`
    and `maxLimit`. Requests past the limit are answered 503 at once.
    """

    min_limit: int | None = Field(default=None, ge=1)
    """The lowest the limit goes, and the limit while Envoy measures the minimum RTT (Envoy: 3)."""
    max_limit: int | None = Field(default=None, ge=1)
    """The highest the limit goes (Envoy: 1000)."""
    sample_window: PositiveDuration = DEFAULT_SAMPLE_WINDOW
    """How often the limit is recalculated from the latency of the requests since the last time."""
    percentile: Percent | None = None
    """Which latency of a window is compared with the minimum (Envoy: 50, the median)."""
    tolerance: Percent | None = None
    """Latency this much above the minimum still counts as unloaded (Envoy: 25)."""
    interval: PositiveDuration | None = None
    """How often the minimum RTT is measured again (Envoy: 60s)."""
    min_rtt_requests: int | None = Field(default=None, ge=1)
    """Requests a minimum RTT measurement takes (Envoy: 50)."""
    jitter: Percent | None = None
    """Up to this share of `interval` is added at random, so proxies do not measure at once
    (Envoy: 10)."""
    min_rtt: PositiveDuration | None = None
    """A fixed minimum RTT instead of measuring it: no measuring window, no 503s while
    measuring; right only when the service's unloaded latency is known and stable."""
    status: HttpStatus | None = None
    """The answer to a request past the limit (Envoy: 503)."""

    @model_validator(mode="after")
    def _coherent(self) -> AdaptiveConcurrency:
        if (
            self.min_limit is not None
            and self.max_limit is not None
            and self.min_limit > self.max_limit
        ):
            raise ValueError(
                f"`minLimit` {self.min_limit} is above `maxLimit` {self.max_limit}: give a "
                "minLimit at or below maxLimit"
            )
        measuring = {
            "interval": self.interval,
            "minRttRequests": self.min_rtt_requests,
            "jitter": self.jitter,
        }
        named = [name for name, value in measuring.items() if value is not None]
        if self.min_rtt is not None and named:
            raise ValueError(
                f"`minRtt` fixes the minimum round-trip time, so {', '.join(f'`{n}`' for n in named)} "
                "(how it is measured) would do nothing: remove one or the other"
            )
        return self


class GatewayLimits(Model):
    """What one client may hold of the gateway: connections, requests on one connection, headers.

    Each limit is per proxy and per listener. Proxy-wide caps (all listeners, heap) are the
    bootstrap's overload manager (`breakwater bootstrap --max-connections --max-heap`).
    """

    max_connections: int | None = Field(default=None, ge=1)
    """Connections the listener holds open at once; one more is accepted and closed at once."""
    max_requests_per_connection: int | None = Field(default=None, ge=1)
    """After this many requests Envoy closes the client's connection (HTTP/1: `connection:
    close` on the last answer; HTTP/2: GOAWAY), so long-lived clients spread over proxies."""
    max_concurrent_streams: int | None = Field(default=None, ge=1, le=2_147_483_647)
    """HTTP/2 requests in flight on one client connection (Envoy's default: 2 147 483 647)."""
    idle_timeout: PositiveDuration | None = None
    """A client connection with no request in flight for this long is closed (Envoy: 1h)."""
    max_request_headers_kb: int | None = Field(default=None, ge=1, le=8192)
    """Larger request headers are answered 431 (Envoy's default: 60 KiB)."""
