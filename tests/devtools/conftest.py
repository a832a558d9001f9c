"""A running upstream for each test, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from breakwater.devtools.upstream import UpstreamServer


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(
        service="payments", subset="canary", instance="payments-canary-0"
    ) as server:
        yield server
