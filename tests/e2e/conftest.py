"""End-to-end tests: real upstreams, the real control plane over ADS, a real Envoy 1.40."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.mesh import Mesh


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    """A mesh per test: each test states its own policies, and no state leaks between tests."""
    with Mesh(tmp_path) as built:
        yield built
