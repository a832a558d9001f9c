"""Mistakes in hedging, local-origin ejection, gateway limits, adaptive concurrency and global
rate limits, each reported on the line the user wrote with what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy.test_bad_files import _errors
from tests.support.errors import assert_located

POLICY_HEAD = """\
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: p}
spec:
  targetRef: {name: payments}
"""
"""A ResiliencePolicy up to its spec's fields; a case's first field is on line 6."""

GATEWAY_HEAD = """\
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: g}
spec:
  port: 10001
"""
"""A Gateway up to its spec's fields; a case's first field is on line 6."""


def policy(text: str) -> str:
    return POLICY_HEAD + "".join(f"  {line}\n" for line in text.strip("\n").split("\n"))


def gateway(text: str) -> str:
    return GATEWAY_HEAD + "".join(f"  {line}\n" for line in text.strip("\n").split("\n"))


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


@pytest.mark.parametrize(
    ("text", "line", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_mistake_is_located(
    tmp_path: Path, text: str, line: int, field: str | None, words: list[str]
) -> None:
    assert_located(_errors(tmp_path, text), line, field, words)
