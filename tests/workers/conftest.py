from __future__ import annotations

from collections.abc import Iterator

import pytest

from breakwater.devtools.upstream import UpstreamServer
from tests.support.upstreams import payments_upstreams


@pytest.fixture
def upstreams() -> Iterator[tuple[UpstreamServer, UpstreamServer]]:
    """The stable and the canary instance of `payments`, answering with their subset."""
    with payments_upstreams() as both:
        yield both
