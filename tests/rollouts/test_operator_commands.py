"""An operator's command given while the driver waits on a webhook is what stays.

The driver reads the progress, asks a slow `confirm-promotion` hook (a real HTTP
server that takes its time) and would then save what it computed from the progress
it read. The abort, pause or promote sent meanwhile must survive that: the progress
is written compare-and-set, so the driver's stale turn is dropped, and its event
stays in the rollout's history.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from breakwater.controlplane.rollouts import driver as driver_module
from breakwater.controlplane.rollouts.engine import RolloutState
from tests.support.rollouts import rollout_controller, rollout_driver, rollout_yaml
from tests.support.webhooks import HookServer, Reply

HOOK_SECONDS = 1.5

EXPECTED = {
    "abort": ("Aborted", 0, 0, "aborted: all traffic back to stable"),
    "pause": ("Paused", 0, 0, "paused by an operator"),
    "promote": ("Progressing", 1, 100, "step 0 promoted by an operator"),
}


@pytest.mark.parametrize("command", sorted(EXPECTED))
async def test_a_command_sent_while_the_driver_waits_on_a_webhook_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setattr(driver_module, "RECONNECT_GRACE", 0.0)  # no proxy: nobody to wait for
    async with HookServer({"/confirm": Reply(200, delay=HOOK_SECONDS)}) as hooks:
        yaml = rollout_yaml(
            steps="[{pause: {duration: 1s}}, {setWeight: 100}]",
            analysis="{interval: 1s, minRequests: 10}",
            webhooks=f"[{{type: confirm-promotion, url: '{hooks.url('/confirm')}', timeout: 5s}}]",
        )
        async with rollout_controller(tmp_path, yaml) as controller:
            driver = rollout_driver(controller, tick=0.05)
            driver.start()
            try:
                # The first call comes during the pause; the second once it is over, when
                # the hook's yes would promote.
                waiting = await hooks.wait_for_call("/confirm", count=2)
                before = driver.progress("payments")
                assert before is not None and (before.phase, before.step) == ("Progressing", 0)
                answer = await driver.command("payments", command)  # type: ignore[arg-type]
                phase, step, weight, event = EXPECTED[command]
                assert answer.phase == phase
                await hooks.wait_answered(waiting)  # the hook said yes to the driver's turn
                await asyncio.sleep(0.5)  # ten more turns
            finally:
                await driver.stop()
        state = driver.progress("payments")
    assert state is not None
    assert isinstance(state, RolloutState)
    messages = [e.message for e in state.history]
    assert (state.phase, state.step, state.canary_weight) == (phase, step, weight), messages
    assert event in messages, messages
