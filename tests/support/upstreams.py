"""The stable and the canary instance of `payments`, which most end-to-end policies route to."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from breakwater.devtools.upstream import UpstreamServer


@contextlib.contextmanager
def payments_upstreams() -> Iterator[tuple[UpstreamServer, UpstreamServer]]:
    """Both instances running, each answering with its subset and instance name."""
    with (
        UpstreamServer(service="payments", subset="stable", instance="payments-stable-0") as stable,
        UpstreamServer(service="payments", subset="canary", instance="payments-canary-0") as canary,
    ):
        yield stable, canary
