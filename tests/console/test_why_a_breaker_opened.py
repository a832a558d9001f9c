"""Why a breaker opened: two real Envoys in front of two instances of one service, one of
which fails every request. The detector that ejected it, the host with the most errors and
when it last failed show in `breakwater policies NAME`, in the API, in the console (a real
Chromium) and in the history, and the counts are the Envoys' own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from breakwater import cli
from tests.console.conftest import screenshot
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

FLUSH = 1.0
REPORTED = FLUSH * 2 + 4
"""How long a number may take to show: a flush, the next one, and slack for a busy machine."""


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    """This module's own mesh (the console's shared one has no failing host)."""
    with Mesh(tmp_path) as built:
        yield built


def detector_counts(mesh: Mesh, detector: str) -> list[int]:
    return [
        mesh.cluster_stat("payments", f"outlier_detection.ejections_enforced_{detector}", i)
        for i in range(len(mesh.envoys))
    ]


def effect(mesh: Mesh) -> dict[str, Any]:
    (found,) = mesh.admin_api("GET", "/v1/policies/payments-breaker")["effect"]
    assert isinstance(found, dict)
    return found


def test_an_always_failing_host_shows_as_ejected_for_consecutive_5xx_everywhere(
    mesh: Mesh, page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    mesh.upstream("good", service="payments")
    bad = mesh.upstream("bad", service="payments", fail_fraction=1.0)
    mesh.start(
        service("payments", "good", "bad")
        + PAYMENTS_ROUTE
        + resilience_policy(
            "payments-breaker",
            "  circuitBreaker: {consecutiveErrors: 3, interval: 1s, openDuration: 30s,"
            " panicThreshold: 0}\n",
        ),
        envoys=2,
        report_interval=FLUSH,
    )
    started = time.time()
    address = f"127.0.0.1:{bad.port}"
    # Envoy counts for its load reports only once their stream is answered: wait for both
    # Envoys' first reports, and a load-report interval more, before the traffic counts.
    mesh.wait_for(lambda: effect(mesh)["proxies_reporting"] == 2, REPORTED, "both Envoys' reports")
    time.sleep(FLUSH)

    # Connections spread over both Envoys (SO_REUSEPORT): send until each ejected the host.
    for _ in range(5):
        mesh.send(80, concurrency=8)
        if all(detector_counts(mesh, "consecutive_5xx")):
            break
    per_envoy = detector_counts(mesh, "consecutive_5xx")
    assert all(per_envoy), f"both Envoys ejected the failing host: {per_envoy}"
    assert sum(detector_counts(mesh, "success_rate")) == 0

    def consecutive_5xx() -> dict[str, Any]:
        for row in effect(mesh)["ejections_by_detector"]:
            if row["detector"] == "consecutive_5xx" and row["total"] == sum(per_envoy):
                return dict(row)
        return {}

    row = mesh.wait_for(
        consecutive_5xx, REPORTED, f"consecutive 5xx ejections to equal the Envoys' {per_envoy}"
    )
    assert row["proxies"] == 2 and row["recent"] == sum(per_envoy), row

    failed_upstream = bad.stats().requests
    assert failed_upstream > 0

    def failing() -> dict[str, Any]:
        hosts = effect(mesh)["failing_hosts"]
        if hosts and hosts[0]["failed"] == failed_upstream and hosts[0]["ejected_on"] == 2:
            return dict(hosts[0])
        return {}

    host = mesh.wait_for(failing, REPORTED, f"{address} to show with {failed_upstream} failures")
    assert host["address"] == address, host
    assert host["requests"] == failed_upstream and host["proxies_failing"] == 2, host
    assert started - 1 <= host["last_failed_at"] <= time.time(), host
    assert all(h["failed"] == 0 for h in effect(mesh)["failing_hosts"][1:])

    assert mesh.control_plane is not None
    server = mesh.control_plane.admin_url
    assert cli.main(["policies", "payments-breaker", "--server", server]) == 0
    detail = capsys.readouterr().out
    assert "why it opened" in detail, detail
    assert f"consecutive 5xx: {sum(per_envoy)} ejections on 2 of 2 proxies" in detail, detail
    assert (
        f"{address}: {failed_upstream} of {failed_upstream} requests failed" in detail
        and "ejected on 2 of 2 proxies" in detail
    ), detail

    def recorded() -> dict[str, Any]:
        for event in mesh.admin_api("GET", "/v1/events")["events"]:
            if address in event["what"]:
                return dict(event)
        return {}

    event = mesh.wait_for(recorded, REPORTED, "the ejection to show in the history")
    assert "consecutive 5xx" in event["what"] and "of 2 proxies" in event["what"], event
    events = mesh.admin_api("GET", "/v1/events")["events"]
    assert sum(address in e["what"] for e in events) == 1, events

    page.goto(f"{server}/#/services")
    payments = page.get_by_role("article", name="Service payments")
    why = payments.get_by_role("region", name="Why payments ejected hosts")
    expect(why).to_contain_text("consecutive 5xx", timeout=10_000)
    expect(why).to_contain_text(address)
    expect(why).to_contain_text("ejected on 2 of 2 proxies")
    screenshot(page, "services-why-ejected")
