"""Fixtures of the proxyless tests: the two gRPC servers and the control plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from breakwater.devtools.proxyless import GrpcBackend
from tests.support.proxyless import Plane, started_backends


@pytest.fixture
def backends() -> Iterator[dict[str, GrpcBackend]]:
    yield from started_backends()


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    found = Plane(tmp_path)
    yield found
    found.close()
