"""The rollout driver's ACK gate without a proxy process: a restarted (or newly claiming)
driver with no proxy connected waits for them to come back before it counts a step as held."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Hashable
from pathlib import Path

import pytest

from breakwater.controlplane.rollouts import driver as driver_module
from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.xds.status import StreamStatus, SyncState, TypeStatus
from breakwater.xds_types import ROUTE_TYPE
from tests.support.rollouts import GROUP, rollout_controller, rollout_driver, rollout_yaml

ROLLOUT_YAML = rollout_yaml(
    steps="[{setWeight: 10}, {setWeight: 100}]", analysis="{interval: 1m, minRequests: 10}"
)


@pytest.fixture
async def controller(tmp_path: Path) -> AsyncIterator[PolicyController]:
    async with rollout_controller(tmp_path, ROLLOUT_YAML) as built:
        yield built


def _stream(state: SyncState) -> StreamStatus:
    """A proxy of the `edge` gateway whose routes are in `state`."""
    routes = TypeStatus(
        ROUTE_TYPE, state, False, ("edge",), 1, "v2", "v2", "1", 0.0, 1, "", None, "", "", None, 0
    )
    return StreamStatus(
        1, "sotw", "edge-1", "edge", GROUP, "ipv4:127.0.0.1:1", 0.0, {ROUTE_TYPE: routes}
    )


async def test_no_proxy_connected_is_no_ack_until_they_had_time_to_reconnect(
    controller: PolicyController, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rollout_driver(controller, [])
    for _ in range(4):
        await driver.turn()
    state = driver.progress("payments")
    assert state is not None
    assert (state.step, state.canary_weight, state.awaiting_ack) == (0, 10, True), state
    assert controller.get_weights("payments", 0).weights == {"stable": 90, "canary": 10}

    # Long enough with nobody back: there is nobody to wait for.
    monkeypatch.setattr(driver_module, "RECONNECT_GRACE", 0.0)
    await driver.turn()
    state = driver.progress("payments")
    assert state is not None and not state.awaiting_ack, state
    assert state.history[-1].message == "step 0 holds on every proxy"


async def test_a_proxy_back_and_synced_acknowledges_the_step_at_once(
    controller: PolicyController,
) -> None:
    streams: list[StreamStatus] = []
    built_from: dict[Hashable, float] = {}
    driver = rollout_driver(controller, streams, built_from)
    await driver.turn()  # started: step 0 asks for 10 %
    await driver.turn()  # the weights are written
    streams.append(_stream("stale"))
    built_from[GROUP] = time.monotonic()
    await driver.turn()
    state = driver.progress("payments")
    assert state is not None and state.awaiting_ack, "acknowledged before the proxy synced"

    streams[0] = _stream("synced")
    await driver.turn()
    state = driver.progress("payments")
    assert state is not None and not state.awaiting_ack, state
    assert state.history[-1].message == "step 0 holds on every proxy"
