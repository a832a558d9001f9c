"""Fixtures of the API tests: a policy directory in tmp_path and the control plane serving it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.upstream import UpstreamServer
from tests.support.policies import PolicyDir
from tests.support.upstreams import payments_upstreams


@pytest.fixture
def policies(tmp_path: Path) -> PolicyDir:
    """Upstream ports nobody listens on: enough for everything that needs no traffic."""
    return PolicyDir.create(tmp_path / "policies")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def plane(policies: PolicyDir, state_dir: Path) -> Iterator[ControlPlaneThread]:
    with ControlPlaneThread(policies.path, state_dir) as running:
        yield running


@pytest.fixture
def upstreams() -> Iterator[tuple[UpstreamServer, UpstreamServer]]:
    """The stable and the canary instance of `payments`, answering with their subset."""
    with payments_upstreams() as both:
        yield both
