"""A replica that lost a rollout's claim writes nothing for it, even mid-turn.

Two replicas on a real etcd. Replica a drives the rollout; its lease is revoked (as
when it expires during a long pause of the process) and replica b takes the claim.
a has not asked for the claim again yet (it asks once a second) and goes on with its
turn: neither its progress nor its weights may reach etcd, because each write's
transaction compares the claim key's lease with the one a claimed under.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aetcd  # type: ignore[import-untyped]
import pytest

from breakwater.controlplane.rollouts import driver as driver_module
from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.state.etcd import EtcdStore
from breakwater.controlplane.state.replicas import Replicas
from breakwater.devtools.ports import LOOPBACK
from tests.etcd.etcd_server import EtcdServer
from tests.support.rollouts import rollout_controller, rollout_driver, rollout_yaml

PREFIX = "/claims"
PROGRESS_KEY = f"{PREFIX}/state/rollouts/payments".encode()
WEIGHTS_KEY = f"{PREFIX}/state/weights/payments/0".encode()
CLAIM_KEY = f"{PREFIX}/leaders/rollout%2Fpayments".encode()
YAML = rollout_yaml(steps="[{setWeight: 10}, {setWeight: 100}]", analysis="{minRequests: 10}")


async def _mod_revisions(etcd: EtcdServer) -> dict[bytes, int]:
    async with aetcd.Client(host=LOOPBACK, port=etcd.client_port, timeout=2) as client:
        found = {}
        for key in (PROGRESS_KEY, WEIGHTS_KEY):
            kv = await client.get(key)
            found[key] = 0 if kv is None else int(kv.mod_revision)
        return found


async def _revoke_claim_lease(etcd: EtcdServer) -> None:
    async with aetcd.Client(host=LOOPBACK, port=etcd.client_port, timeout=2) as client:
        claim = await client.get(CLAIM_KEY)
        assert claim is not None and int(claim.lease), "replica a holds no claim"
        await client.revoke_lease(int(claim.lease))


async def _replica(controller: PolicyController, name: str) -> Replicas:
    replicas = Replicas(controller.store, controller, list, replica_id=name)
    await replicas.start(f"{name}:18000", f"{name}:18001")
    return replicas


@pytest.fixture
async def two(tmp_path: Path, etcd: EtcdServer) -> AsyncIterator[tuple[Any, ...]]:
    async with (
        rollout_controller(tmp_path / "a", YAML, store=EtcdStore.from_url(etcd.url(PREFIX))) as a,
        rollout_controller(tmp_path / "b", YAML, store=EtcdStore.from_url(etcd.url(PREFIX))) as b,
    ):
        replicas_a, replicas_b = await _replica(a, "a"), await _replica(b, "b")
        try:
            yield a, replicas_a, b, replicas_b
        finally:
            await replicas_a.stop()
            await replicas_b.stop()


async def test_a_replica_that_lost_the_claim_writes_no_progress_and_no_weights(
    two: tuple[Any, ...], etcd: EtcdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, replicas_a, b, replicas_b = two
    monkeypatch.setattr(driver_module, "RECONNECT_GRACE", 0.0)  # no proxy: nobody to wait for
    monkeypatch.setattr(driver_module, "CLAIM_SECONDS", 60.0)  # a does not ask again meanwhile
    driver_a = rollout_driver(a, claim=replicas_a.claim)
    await driver_a.turn()  # a claims the rollout and starts it: step 0 asks for 10 %
    written = await _mod_revisions(etcd)
    assert written[PROGRESS_KEY] and not written[WEIGHTS_KEY], written

    await _revoke_claim_lease(etcd)
    assert await replicas_b.claim("rollout/payments"), "b could not take the free claim"

    # a's next turn would write step 0's weights, note that the step holds (there is
    # nobody to wait for) and save that.
    await driver_a.turn()
    assert await _mod_revisions(etcd) == written, "a wrote after losing its claim"

    # b, which holds the claim now, drives on from a's step.
    await b.load_store()
    driver_b = rollout_driver(b, claim=replicas_b.claim)
    await driver_b.turn()  # the weights
    await driver_b.turn()  # the step holds
    assert b.get_weights("payments", 0).weights == {"stable": 90, "canary": 10}
    state = driver_b.progress("payments")
    assert state is not None and state.history[-1].message == "step 0 holds on every proxy"
    assert (await _mod_revisions(etcd))[PROGRESS_KEY] > written[PROGRESS_KEY]
