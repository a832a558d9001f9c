from __future__ import annotations

from collections.abc import Iterator

import pytest

from breakwater.devtools.upstream import UpstreamServer


@pytest.fixture
def upstreams() -> Iterator[tuple[UpstreamServer, UpstreamServer]]:
    """The stable and the canary instance of `payments`, answering with their subset."""
    with (
        UpstreamServer(service="payments", subset="stable", instance="payments-stable-0") as stable,
        UpstreamServer(service="payments", subset="canary", instance="payments-canary-0") as canary,
    ):
        yield stable, canary
