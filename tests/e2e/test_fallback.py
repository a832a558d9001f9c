"""Fallback responses through a real Envoy: instances down, failover first, bulkhead overflow.

The fallback is a ResiliencePolicy field, merged like the others, and Envoy's
custom response filter answers with it on the route; these tests read the
status, body and headers each client got.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from breakwater.client import http
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

BODY = {"success": False, "message": "Service temporarily unavailable"}
FALLBACK = """\
  fallback:
    response:
      status: 503
      body: '{"success": false, "message": "Service temporarily unavailable"}'
      contentType: application/json
      headers: {x-fallback: "true"}
"""
HEALTH_CHECK = """\
  healthCheck:
    interval: 250ms
    timeout: 500ms
    unhealthyThreshold: 1
    healthyThreshold: 1
    http: {path: /health}
"""


def get(mesh: Mesh, path: str = "/") -> tuple[int, dict[str, str], Any]:
    reply = http("GET", mesh.url + path)
    return reply.status, dict(reply.headers), reply.body


def test_with_every_instance_down_each_request_gets_the_fallback(mesh: Mesh) -> None:
    first = mesh.upstream("first", service="payments")
    second = mesh.upstream("second", service="payments")
    mesh.start(
        service("payments", "first", "second")
        + PAYMENTS_ROUTE
        + resilience_policy("payments-fallback", FALLBACK)
    )
    assert get(mesh)[0] == 200

    first.stop()
    second.stop()
    answers = [get(mesh) for _ in range(40)]

    assert {status for status, _, _ in answers} == {503}
    assert all(body == BODY for _, _, body in answers), answers[0]
    assert {headers["content-type"] for _, headers, _ in answers} == {"application/json"}
    assert {headers["x-fallback"] for _, headers, _ in answers} == {"true"}
    got = sum(1 for status, _, body in answers if (status, body) == (503, BODY))
    print(f"{len(answers)} requests with every instance down: {got} got the fallback")


def test_failover_answers_first_and_the_fallback_only_when_it_fails_too(mesh: Mesh) -> None:
    mesh.upstream("primary", service="payments", healthy=False)
    spare = mesh.upstream("spare", service="payments-spare")
    mesh.start(
        service("payments", "primary")
        + service("payments-spare", "spare")
        + PAYMENTS_ROUTE
        + resilience_policy(
            "payments-fallback", HEALTH_CHECK + "  failover: {to: payments-spare}\n" + FALLBACK
        ),
        healthy={"payments": 0},
    )

    served = [get(mesh) for _ in range(20)]
    assert {(status, body["instance"]) for status, _, body in served} == {(200, "spare")}

    spare.stop()
    failed = [get(mesh) for _ in range(20)]
    assert {status for status, _, _ in failed} == {503}
    assert all(body == BODY for _, _, body in failed), failed[0]


def test_bulkhead_overflow_gets_the_fallback_body_instead_of_envoys_503(mesh: Mesh) -> None:
    only = mesh.upstream("only", service="payments", latency=1.0)
    mesh.start(
        service("payments", "only")
        + PAYMENTS_ROUTE
        + resilience_policy(
            "payments-fallback",
            """\
  bulkhead:
    maxConcurrentRequests: 5
    maxQueuedRequests: 20
  fallback:
    response: {body: '{"busy": true}', contentType: application/json}
    on: [overflow]
""",
        )
    )

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: get(mesh), range(20)))

    served = [body for status, _, body in answers if status == 200]
    refused = [(status, headers, body) for status, headers, body in answers if status != 200]
    print(f"20 at once over a bulkhead of 5: {len(served)} served, {len(refused)} got the fallback")
    assert len(served) == 5 and only.stats().max_in_flight == 5
    # The status is the overflow's own 503; the body is the fallback's.
    assert [(status, body) for status, _, body in refused] == [(503, {"busy": True})] * 15
    # The fallback replaces Envoy's answer whole, its x-envoy-overloaded header included.
    assert not [headers for _, headers, _ in refused if "x-envoy-overloaded" in headers]
    assert mesh.cluster_stat("payments", "upstream_rq_active_overflow") == 15


def test_an_injected_abort_is_not_mistaken_for_a_failure(mesh: Mesh) -> None:
    mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only")
        + """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: payments}]
      fault:
        abort: {status: 503, percent: 100}
"""
        + resilience_policy("payments-fallback", FALLBACK)
    )

    result = mesh.send(10, watch_headers=("x-fallback",))

    assert result.by_status == {503: 10}, result.summary()
    assert result.header_counts["x-fallback"] == 0
