"""Mistakes in hedging, local-origin ejection, gateway limits, adaptive concurrency and global
rate limits, each reported on the line the user wrote with what to do instead."""

from __future__ import annotations

from pathlib import Path

from tests.support.bad_policies import errors_of, gateway, located_cases, policy, rule
from tests.support.errors import assert_located

GRPC_SERVICE = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: quotes}
spec:
  protocol: grpc
  endpoints: [{address: 10.0.0.9, port: 9000}]
---
"""
"""A gRPC Service (5 lines and a separator): a case after it starts on line 8."""


# (case id, YAML, expected line, expected field, words the message must hold)
CASES = [
    (
        "global-limit-without-a-rate-limit-service",
        rule("""\
- backends: [{service: payments}]
  rateLimit:
    global: {requests: 10, per: 1s}
"""),
        9,
        "spec.rules[0].rateLimit.global",
        ["gateway 'edge' names no `rateLimitService`", "requests` and `per`"],
    ),
    (
        "global-limit-per-ten-seconds",
        rule("""\
- backends: [{service: payments}]
  rateLimit:
    global: {requests: 10, per: 10s}
"""),
        9,
        "spec.rules[0].rateLimit.global.per",
        ["10s is not a window", "1s, 1m, 1h or 1d"],
    ),
    (
        "global-limit-by-two-keys",
        rule("""\
- backends: [{service: payments}]
  rateLimit:
    global: {requests: 10, per: 1s, by: {header: x-user, clientAddress: true}}
"""),
        9,
        "spec.rules[0].rateLimit.global.by",
        ["exactly one of `header: NAME`"],
    ),
    (
        "rate-limit-with-nothing",
        rule("""\
- backends: [{service: payments}]
  rateLimit: {burst: 5}
"""),
        8,
        "spec.rules[0].rateLimit",
        ["`global` (one limit shared by every proxy)"],
    ),
    (
        "rate-limit-service-undeclared",
        gateway("rateLimitService: limits"),
        6,
        "spec.rateLimitService",
        ["rate-limit service 'limits' is not declared", "protocol: grpc"],
    ),
    (
        "rate-limit-service-over-http1",
        gateway("rateLimitService: payments"),
        6,
        "spec.rateLimitService",
        ["has protocol http", "`protocol: grpc`"],
    ),
    (
        "adaptive-on-a-grpc-service",
        GRPC_SERVICE
        + policy("""\
bulkhead:
  adaptive: {minLimit: 5}
""").replace("name: payments", "name: quotes"),
        14,
        "spec.bulkhead.adaptive",
        ["speaks gRPC", "maxConcurrentRequests"],
    ),
    (
        "adaptive-min-above-max",
        policy("""\
bulkhead:
  adaptive: {minLimit: 50, maxLimit: 10}
"""),
        7,
        "spec.bulkhead.adaptive",
        ["`minLimit` 50 is above `maxLimit` 10"],
    ),
    (
        "adaptive-fixed-min-rtt-and-measuring",
        policy("""\
bulkhead:
  adaptive: {minRtt: 20ms, interval: 30s}
"""),
        7,
        "spec.bulkhead.adaptive",
        ["`minRtt` fixes", "`interval`"],
    ),
    (
        "hedge-without-per-try-timeout",
        policy("""\
retry:
  attempts: 2
  hedge: true
"""),
        8,
        "spec.retry.hedge",
        ["`hedge: true` needs `perTryTimeout`"],
    ),
    (
        "hedge-with-one-attempt",
        policy("""\
retry:
  attempts: 1
  perTryTimeout: 100ms
  hedge: true
"""),
        9,
        "spec.retry.hedge",
        ["`attempts` of 2 or more"],
    ),
    (
        "local-origin-failures-zero",
        policy("""\
circuitBreaker:
  localOriginFailures: 0
"""),
        7,
        "spec.circuitBreaker.localOriginFailures",
        ["localOriginFailures"],
    ),
    (
        "gateway-max-connections-zero",
        gateway("""\
limits:
  maxConnections: 0
"""),
        7,
        "spec.limits.maxConnections",
        ["maxConnections"],
    ),
    (
        "gateway-limit-unknown",
        gateway("""\
limits:
  maxConnection: 10
"""),
        7,
        "spec.limits.maxConnection",
        ["did you mean 'maxConnections'"],
    ),
]


@located_cases(CASES)
def test_mistake_is_located(
    tmp_path: Path, text: str, line: int, field: str | None, words: list[str]
) -> None:
    assert_located(errors_of(tmp_path, text), line, field, words)
