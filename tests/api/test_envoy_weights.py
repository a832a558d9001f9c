"""`breakwater weights set` moves a real Envoy's traffic, and the change-to-ACK histogram times it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.prometheus import scrape
from breakwater.devtools.traffic import ContinuousTraffic, TrafficResult, send_requests
from breakwater.devtools.upstream import UpstreamServer
from breakwater.devtools.waiting import wait_until
from tests.api.cli import run_cli
from tests.support.admin import proxy_synced
from tests.support.envoy import envoy_for, envoy_route_weights
from tests.support.policies import PolicyDir

REQUESTS = 2000
TOLERANCE = 0.05  # absolute share: 10 % expected means 5 % to 15 % accepted
NODE_ID = "edge-weights"


@pytest.fixture
def mesh(
    tmp_path: Path, upstreams: tuple[UpstreamServer, UpstreamServer]
) -> Iterator[tuple[PolicyDir, ControlPlaneThread, EnvoyProcess]]:
    stable, canary = upstreams
    policies = PolicyDir.create(tmp_path / "policies", stable.port, canary.port)
    with ControlPlaneThread(policies.path, tmp_path / "state") as plane:
        envoy = envoy_for(plane.xds_port, NODE_ID)
        try:
            envoy.start()
            yield policies, plane, envoy
        finally:
            envoy.cleanup()


def _shares(result: TrafficResult) -> dict[str, float]:
    answered = sum(result.by_subset.values())
    return {subset: count / answered for subset, count in result.by_subset.items()}


def _assert_split(result: TrafficResult, expected: dict[str, float]) -> dict[str, float]:
    assert result.by_status == {200: REQUESTS}, result.summary()
    assert result.not_sent == 0
    shares = _shares(result)
    assert set(shares) == set(expected), shares
    for subset, share in expected.items():
        assert abs(shares[subset] - share) <= TOLERANCE, (subset, shares)
    return shares


def test_weights_set_moves_envoys_split_and_times_the_ack(
    mesh: tuple[PolicyDir, ControlPlaneThread, EnvoyProcess],
) -> None:
    policies, plane, envoy = mesh
    gateway = policies.url()
    wait_until(lambda: proxy_synced(plane.admin_url, NODE_ID), 15, "Envoy to ACK every type")
    assert envoy_route_weights(envoy) == {"payments|stable": 90, "payments|canary": 10}

    before = send_requests(gateway, REQUESTS, concurrency=16, timeout=5.0)
    shares_before = _assert_split(before, {"stable": 0.9, "canary": 0.1})

    count_before = scrape(plane.admin_url, "breakwater_change_to_ack_seconds_count")
    sum_before = scrape(plane.admin_url, "breakwater_change_to_ack_seconds_sum")
    with ContinuousTraffic(gateway, rate=200, timeout=5.0) as during:
        during.wait_for(50)
        done = run_cli(
            "weights", "set", "payments", "stable=50", "canary=50", "--server", plane.admin_url
        )
        assert done.returncode == 0, done.stderr
        assert "from override, revision 1)" in done.stdout
        envoy.wait_for(
            lambda: envoy_route_weights(envoy) == {"payments|stable": 50, "payments|canary": 50},
            10,
            "Envoy to hold the 50/50 route",
        )
        during.wait_for(during.completed + 50)
    shifted = during.result
    # The shift happened under load without a single failed request.
    assert shifted.errors == 0 and shifted.server_errors == 0, shifted.summary()

    count_after = wait_until(
        lambda: (
            value
            if (value := scrape(plane.admin_url, "breakwater_change_to_ack_seconds_count"))
            > count_before
            else None
        ),
        10,
        "the change-to-ACK histogram to record the change",
    )
    observed = scrape(plane.admin_url, "breakwater_change_to_ack_seconds_sum") - sum_before
    assert count_after - count_before == 1
    # From the API write to Envoy's ACK: debounce (50 ms here) plus one push; never seconds.
    assert 0.0 < observed < 5.0, observed
    wait_until(lambda: proxy_synced(plane.admin_url, NODE_ID), 10, "Envoy synced after the push")

    after = send_requests(gateway, REQUESTS, concurrency=16, timeout=5.0)
    shares_after = _assert_split(after, {"stable": 0.5, "canary": 0.5})
    print(
        f"\nsplit 90/10: stable {shares_before['stable']:.1%} canary {shares_before['canary']:.1%}"
        f"; 50/50: stable {shares_after['stable']:.1%} canary {shares_after['canary']:.1%}"
        f"; change-to-ACK {observed * 1000:.0f} ms"
    )
