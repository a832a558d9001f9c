"""A control plane with nothing to serve: each of the console's pages says what would fill it,
in a real headless Chromium against a real control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from breakwater.devtools.controlplane import ControlPlaneThread
from tests.console.conftest import screenshot

EMPTY_PAGES = [
    (
        "overview",
        "No proxy is connected.",
        "breakwater bootstrap --node-id edge-1 --node-cluster edge > bootstrap.yaml",
    ),
    ("routes", "No HTTPRoute is served.", "deploy/examples/routes.yaml"),
    ("services", "No Service is served.", "python -m breakwater.devtools.upstream --policies DIR"),
    ("rollouts", "No Rollout is served.", "deploy/examples/rollout.yaml"),
    ("endpoints", "No endpoint is drained.", "breakwater endpoints drain SERVICE ADDRESS:PORT"),
]
"""Each page, the sentence of its empty state, and one command or file it points at (as code)."""


@pytest.fixture(scope="module")
def empty_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneThread]:
    root = tmp_path_factory.mktemp("empty")
    (root / "policies").mkdir()
    plane = ControlPlaneThread(root / "policies", root / "state").start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.mark.parametrize(
    ("name", "sentence", "pointer"), EMPTY_PAGES, ids=[p[0] for p in EMPTY_PAGES]
)
def test_an_empty_page_points_at_what_fills_it(
    page: Page, empty_plane: ControlPlaneThread, name: str, sentence: str, pointer: str
) -> None:
    page.goto(f"{empty_plane.admin_url}/#/{name}")
    expect(page.locator("#live")).to_contain_text("live", timeout=10_000)
    hint = page.locator("p.empty").filter(has_text=sentence)
    expect(hint).to_be_visible()
    expect(hint.locator("code").filter(has_text=pointer)).to_have_count(1)
    screenshot(page, f"empty-{name}")
