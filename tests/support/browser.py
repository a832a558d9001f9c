"""A real headless Chromium for the console's tests: Debian's `chromium`, driven by Playwright.

Playwright's wheel brings its driver, not a browser: it is pointed at the
system's chromium and never downloads one. A machine without chromium fails
these tests with the command that installs it (CI runs it in `.ci/run`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright

CHROMIUM = Path(os.environ.get("BREAKWATER_CHROMIUM", "/usr/bin/chromium"))
VIEWPORT = {"width": 1280, "height": 800}
"""A laptop screen: the console must be usable at this size, and the screenshots have it."""


def launch_chromium(playwright: Playwright) -> Browser:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the console tests need Debian's chromium at {CHROMIUM}: install it with "
            "`apt-get install -y --no-install-recommends chromium` (as .ci/run does), or point "
            "BREAKWATER_CHROMIUM at a Chromium binary",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
