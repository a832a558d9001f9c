"""`rateLimit.global`: one limit shared by two real Envoys, counted by Envoy's reference
rate-limit service on a real Redis, and what each failure mode does when the service is down.

Needs `make ratelimit` (which `make test` runs first) and Debian's redis-server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from breakwater.devtools.prometheus import metric, metrics_text
from breakwater.devtools.traffic import ContinuousTraffic, send_requests
from tests.e2e.mesh import Mesh, service
from tests.support.ratelimit import RateLimitService, RedisServer

LIMIT = 10
RATE = 25.0
SECONDS = 3.0
FLUSH = 1.0
"""Seconds between two stats reports of each Envoy to the control plane."""
REPORTED = FLUSH * 2 + 4
"""How long a number may take to reach `/metrics`: a flush, the next, and slack."""

ROUTE = f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge]
  rules:
    - matches: [{{path: {{prefix: /closed}}}}]
      backends: [{{service: payments}}]
      rateLimit:
        global: {{requests: {LIMIT}, per: 1s, failureMode: closed}}
    - backends: [{{service: payments}}]
      rateLimit:
        global: {{requests: {LIMIT}, per: 1s}}
"""


def limiter_service(port: int) -> str:
    return f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: ratelimit}}
spec:
  protocol: grpc
  endpoints: [{{address: 127.0.0.1, port: {port}}}]
"""


@pytest.fixture
def limiter(tmp_path: Path) -> Iterator[RateLimitService]:
    workdir = tmp_path / "limiter"
    workdir.mkdir()
    with RedisServer(workdir) as redis, RateLimitService(workdir, redis) as service_:
        yield service_


def test_two_envoys_share_one_limit_and_each_failure_mode_holds_when_the_service_is_down(
    mesh: Mesh, limiter: RateLimitService
) -> None:
    upstream = mesh.upstream("only", service="payments")
    policies = service("payments", "only") + limiter_service(limiter.grpc_port) + ROUTE
    # The control plane keeps the service's configuration in the directory it
    # watches (`serve --ratelimit-config`), from the policies the proxies get.
    mesh.start(
        policies,
        envoys=2,
        gateway_spec="  rateLimitService: ratelimit\n",
        ratelimit_config=limiter.config_file,
        report_interval=FLUSH,
    )
    mesh.wait_for(
        lambda: send_requests(mesh.url, 1).by_status[429] == 0 and _counted(mesh) > 0,
        10.0,
        "the service to count",
    )
    time.sleep(1.0)  # a fresh window
    upstream.reset_stats()

    # Each request on its own connection, so the kernel spreads them over both Envoys.
    with ContinuousTraffic(
        mesh.url, rate=RATE, headers={"connection": "close"}, max_duration=20.0
    ) as traffic:
        time.sleep(SECONDS)
    result = traffic.result
    served = upstream.stats().status(200)

    # About LIMIT a second in total reached the upstream (each fixed window of
    # one second lets LIMIT through; the run touches 3 or 4 of them), not
    # LIMIT per proxy.
    offered = result.total
    assert offered >= 1.5 * LIMIT * SECONDS, result.summary()  # more than one limit lets through
    assert LIMIT * SECONDS * 0.8 <= served <= LIMIT * (SECONDS + 1), (served, result.summary())
    assert result.by_status[429] == offered - served, result.summary()
    for index in (0, 1):
        stats = mesh.stats(index)
        assert stats.get("cluster.payments.ratelimit.ok", 0) > 0, index
        assert stats.get("cluster.payments.ratelimit.over_limit", 0) > 0, index
    _reported_as_counted(mesh, ("ok", "over_limit"))

    # The service goes away: `failureMode: open` lets requests through,
    # `closed` answers 503, and Envoy counts both.
    limiter.stop()
    upstream.reset_stats()
    opened = send_requests(mesh.url, 10)
    closed = send_requests(mesh.url, 10, path="/closed")
    assert opened.by_status == {200: 10}, opened.summary()
    assert closed.by_status == {503: 10}, closed.summary()
    assert upstream.stats().status(200) == 10
    allowed = sum(
        mesh.stats(i).get("cluster.payments.ratelimit.failure_mode_allowed", 0) for i in (0, 1)
    )
    assert allowed == 10
    _reported_as_counted(mesh, ("error", "failure_mode_allowed", "over_limit"))


METRICS = {
    "ok": "breakwater_global_rate_limit_ok_total",
    "over_limit": "breakwater_global_rate_limit_over_limit_total",
    "error": "breakwater_global_rate_limit_errors_total",
    "failure_mode_allowed": "breakwater_global_rate_limit_failure_mode_allowed_total",
}


def _reported_as_counted(mesh: Mesh, stats: tuple[str, ...]) -> None:
    """The control plane's `/metrics` (from the Envoys' stats sinks) says what both Envoys'
    own counters say, stat by stat."""
    assert mesh.control_plane is not None
    for stat in stats:
        counted = sum(mesh.stats(i).get(f"cluster.payments.ratelimit.{stat}", 0) for i in (0, 1))
        mesh.wait_for(
            partial(_is_reported, mesh, METRICS[stat], counted),
            REPORTED,
            f"{METRICS[stat]} to reach {counted}",
        )


def _is_reported(mesh: Mesh, name: str, counted: int) -> bool:
    assert mesh.control_plane is not None
    text = metrics_text(mesh.control_plane.admin_url, timeout=5.0)
    return (metric(text, name, service="payments", subset="") or 0.0) == counted


def _counted(mesh: Mesh) -> int:
    return sum(
        mesh.stats(i).get("cluster.payments.ratelimit.ok", 0)
        + mesh.stats(i).get("cluster.payments.ratelimit.over_limit", 0)
        for i in (0, 1)
    )
