"""Clusters added or changed on a running Envoy warm at once, not after ``initial_fetch_timeout``.

A new or changed EDS cluster makes Envoy ask for its endpoints again, often
with the EDS version and nonce it already holds. The server must answer that
request with the endpoints (the xDS protocol's "resource warming"); if it
took it for a repeated ACK, the cluster would sit in warming until Envoy's
initial fetch timeout (15 s) ran out.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from breakwater.controlplane.xds.resources import Snapshot
from breakwater.devtools.envoy import EnvoyProcess, find_envoy, free_port
from tests.controlplane import builders
from tests.controlplane.harness import Upstream, XdsHarness, get

try:
    find_envoy()
except Exception as error:  # pragma: no cover - depends on the environment
    pytest.skip(f"no Envoy binary: {error}", allow_module_level=True)

WARM_WITHIN = 3.0
"""Seconds a changed cluster may take to warm; far below the 15 s initial fetch timeout."""


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, Upstream]]:
    servers = {label: Upstream(label) for label in ("a", "b")}
    yield servers
    for server in servers.values():
        server.stop()


def config(
    upstreams: dict[str, Upstream], port: int, weights: dict[str, int], timeout_ms: int = 500
) -> Snapshot:
    """A route over ``weights``' backends; ``timeout_ms`` changes cluster ``a`` only."""
    return builders.snapshot(
        backends={name: [upstreams[name].port] for name in weights},
        weights=weights,
        listener_port=port,
        connect_timeouts_ms={"a": timeout_ms},
    )


def warm(envoy: EnvoyProcess, clusters: set[str]) -> bool:
    """Envoy holds ``clusters`` and none is warming (its own gauge says so)."""
    gauge = envoy.stats("cluster_manager.warming_clusters").get("cluster_manager.warming_clusters")
    return gauge == 0 and clusters <= envoy.dynamic_names("clusters")


@pytest.mark.parametrize("delta", [pytest.param(False, id="sotw"), pytest.param(True, id="delta")])
def test_added_and_changed_clusters_warm_promptly(
    upstreams: dict[str, Upstream], delta: bool
) -> None:
    xds = XdsHarness()
    port = free_port()
    envoy = xds.envoy("edge-1", "edge", delta=delta)
    try:
        xds.set_snapshot("edge", config(upstreams, port, {"a": 100}))
        envoy.start()
        envoy.wait_for(lambda: xds.synced("edge-1") and warm(envoy, {"a"}), 5, "a warm")

        for step, snapshot in enumerate(
            [
                config(upstreams, port, {"a": 50, "b": 50}),  # b is added
                config(upstreams, port, {"a": 50, "b": 50}, timeout_ms=700),  # a changes
            ]
        ):
            xds.set_snapshot("edge", snapshot)
            envoy.wait_for(
                lambda: xds.synced("edge-1") and warm(envoy, {"a", "b"}),
                WARM_WITHIN,
                f"step {step}: every cluster warm",
            )
        # The changed cluster is the one serving, and its hosts are known.
        clusters = envoy.config_dump("dynamic_active_clusters")["configs"]
        timeouts = {c["cluster"]["name"]: c["cluster"]["connect_timeout"] for c in clusters}
        assert timeouts == {"a": "0.700s", "b": "0.500s"}
        assert {get(port)[1] for _ in range(40)} == {"a", "b"}
    finally:
        envoy.cleanup()
        xds.close()
