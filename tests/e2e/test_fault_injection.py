"""Fault injection on a route rule, through a real Envoy: aborts, delays, and drills gated by headers.

The proxy injects the faults itself, before the request reaches a backend,
so the upstream counts only what was let through, and Envoy's own counters
(`http.<gateway>.fault.*`) agree with what the client saw.
"""

from __future__ import annotations

from tests.e2e.mesh import Mesh, service

ABORT_PERCENT = 10
REQUESTS = 1_000
TOLERANCE = 0.03
"""±3 % of the requests: over 3 standard deviations of a 10 % draw over 1 000 requests."""

DELAY = 1.0


def route(rule: str) -> str:
    """HTTPRoute `payments` with one rule (indented as a list item) before a plain one."""
    return f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge]
  rules:
{rule}    - backends: [{{service: payments}}]
"""


def test_a_tenth_of_the_requests_is_aborted_and_never_reaches_the_backend(mesh: Mesh) -> None:
    only = mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only")
        + route(
            f"""\
    - matches: [{{path: {{prefix: /drill}}}}]
      backends: [{{service: payments}}]
      fault:
        abort: {{status: 503, percent: {ABORT_PERCENT}}}
"""
        )
    )

    result = mesh.send(REQUESTS, concurrency=10, path="/drill")

    aborted = result.by_status[503]
    share = aborted / REQUESTS
    print(f"aborted {aborted} of {REQUESTS} ({share:.1%}, asked {ABORT_PERCENT} %)")
    assert abs(share - ABORT_PERCENT / 100) <= TOLERANCE, result.summary()
    assert result.ok == REQUESTS - aborted, result.summary()
    assert only.stats().requests == REQUESTS - aborted
    assert mesh.stats()["http.edge.fault.aborts_injected"] == aborted
    # The rule without a fault is untouched by the drill.
    assert mesh.send(100, concurrency=10, path="/other").ok == 100


def test_delays_hold_the_chosen_requests_for_the_duration(mesh: Mesh) -> None:
    mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only")
        + route(
            f"""\
    - matches: [{{path: {{prefix: /slow}}}}]
      backends: [{{service: payments}}]
      fault:
        delay: {{duration: {int(DELAY * 1000)}ms, percent: 50}}
"""
        )
    )

    result = mesh.send(60, concurrency=60, path="/slow")

    assert result.ok == 60, result.summary()
    delayed = sorted(r.latency for r in result.records if r.latency >= DELAY)
    prompt = sorted(r.latency for r in result.records if r.latency < DELAY)
    print(
        f"delayed {len(delayed)} of 60: {delayed[0]:.3f}-{delayed[-1]:.3f}s; "
        f"the others {prompt[0]:.3f}-{prompt[-1]:.3f}s"
    )
    assert mesh.stats()["http.edge.fault.delays_injected"] == len(delayed)
    assert 15 <= len(delayed) <= 45, result.summary()
    # Held for the duration, then served as promptly as the rest.
    assert delayed[-1] < DELAY + 0.5, delayed
    assert prompt[-1] < DELAY / 2, prompt


def test_a_drill_gated_by_a_header_touches_only_the_marked_requests(mesh: Mesh) -> None:
    only = mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only")
        + route(
            """\
    - backends: [{service: payments}]
      fault:
        abort: {status: 503, percent: 100}
        headers: [{name: x-drill, value: "true"}]
"""
        )
    )

    def marked(index: int) -> dict[str, str]:
        return {"x-drill": "true"} if index % 2 == 0 else {"x-request-index": str(index)}

    result = mesh.send(200, concurrency=10, headers=marked)

    by_mark = {
        mark: [r.status for r in result.records if (r.index % 2 == 0) == mark]
        for mark in (True, False)
    }
    assert by_mark[True] == [503] * 100, result.summary()
    assert by_mark[False] == [200] * 100, result.summary()
    assert only.stats().requests == 100
    assert not [r for r in only.seen() if "x-drill" in r.headers]
    assert mesh.stats()["http.edge.fault.aborts_injected"] == 100
