"""The console's fixtures: one Chromium and one mesh (a real control plane with a token, a
real Envoy, real upstreams) for the whole module, and a page per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from breakwater.controlplane.api.security import SecurityConfig
from tests.e2e.mesh import Mesh, payments_split, resilience_policy
from tests.support.browser import VIEWPORT, launch_chromium

TOKEN = "console-test-token-0123456789"
FLUSH = 1.0
"""How often Envoy reports its stats: the live split and the analyses follow it."""

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"

ORDERS = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: orders}
spec:
  endpoints:
    - {address: 127.0.0.1, port: $orders_stable, labels: {version: stable}}
    - {address: 127.0.0.1, port: $orders_canary, labels: {version: canary}}
  subsets:
    - {name: stable, labels: {version: stable}}
    - {name: canary, labels: {version: canary}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: inventory}
spec:
  registration: {ttl: 5m}
"""

POLICIES = (
    payments_split({"stable": 100, "canary": 0}).replace(
        "  rules:\n",
        """  rules:
    - name: orders
      matches:
        - path: {prefix: /orders}
      backends:
        - {service: orders, subset: stable, weight: 100}
        - {service: orders, subset: canary, weight: 0}
""",
    )
    + ORDERS
    + resilience_policy(
        "payments-breaker",
        "  circuitBreaker: {failureRateThreshold: 50, minimumRequests: 20, openDuration: 5s}\n"
        "  retry: {attempts: 2}\n",
    )
    + """\
---
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {name: orders}
spec:
  routeRef: {name: payments, rule: orders}
  stable: stable
  canary: canary
  steps:
    - setWeight: 50
    - pause: {}
    - setWeight: 100
  analysis:
    interval: 1s
    minRequests: 5
    failureLimit: 3
    successRate: {min: 90}
"""
)
"""HTTPRoute `payments`: rule 0 (`orders`, /orders) is driven by Rollout `orders`, rule 1
(`split`, every other path) is the one the weight editor moves."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    built = Mesh(tmp_path_factory.mktemp("console"))
    try:
        for subset in ("stable", "canary"):
            built.upstream(subset, service="payments", subset=subset)
            built.upstream(f"orders_{subset}", service="orders", subset=subset)
        built.start(POLICIES, report_interval=FLUSH, security=SecurityConfig(token=TOKEN))
        yield built
    finally:
        built.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda m: _keep_error(errors, m.type, m.text))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the console's scripts failed: {errors}"


def _keep_error(errors: list[str], kind: str, text: str) -> None:
    """Script errors fail the test; the browser's own line for each refused or unanswered call
    (a 401, a 409, the server gone) is what some tests provoke on purpose."""
    if kind == "error" and not text.startswith("Failed to load resource"):
        errors.append(text)


def screenshot(page: Page, name: str, *, top: bool = True) -> None:
    """The viewport as a user sees it: from the top of the page, or where the test scrolled."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if top:
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def enter_token(page: Page, token: str = TOKEN) -> None:
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Use token").click()
