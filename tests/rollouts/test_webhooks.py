"""Rollout webhooks cannot be turned against the network they run in.

Real HTTP servers answer the hooks; the driver runs in the test's process over a real
SQLite store, and what it publishes is read as `GET /v1/rollouts/NAME` answers it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from breakwater.controlplane.api.rollout_models import RolloutStatus
from breakwater.controlplane.rollouts import driver as driver_module
from breakwater.controlplane.rollouts.driver import RolloutDriver
from breakwater.controlplane.rollouts.status import rollout_status
from breakwater.controlplane.state.controller import PolicyController
from tests.support.policies import PolicyDir, SplitRoute, load_policy_dir
from tests.support.rollouts import (
    ROUTE_AT_STABLE,
    rollout_controller,
    rollout_driver,
    rollout_yaml,
)
from tests.support.webhooks import HookServer, Reply

SECRET = "internal-token-8f2c1e"


def _gated(url: str, *, interval: str = "1s") -> str:
    """A rollout whose last step waits for a confirm-promotion hook at `url`."""
    return rollout_yaml(
        steps="[{pause: {duration: 100ms}}, {setWeight: 100}]",
        analysis=f"{{interval: {interval}, minRequests: 10}}",
        webhooks=f"[{{type: confirm-promotion, url: '{url}', timeout: 2s}}]",
    )


async def _message_once(
    controller: PolicyController, driver: RolloutDriver, text: str, timeout: float = 5.0
) -> str:
    """The rollout's published message, once it holds `text`."""
    deadline = time.monotonic() + timeout
    while text not in (message := rollout_status(controller, "payments").message):
        assert time.monotonic() < deadline, f"no {text!r} in the status; it says {message!r}"
        await asyncio.sleep(0.02)
    return message


@pytest.fixture(autouse=True)
def _no_proxies_to_wait_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "RECONNECT_GRACE", 0.0)


def test_only_http_and_https_urls_and_at_most_30_s_validate(tmp_path: Path) -> None:
    policies = PolicyDir.create(tmp_path / "policies", routes=[ROUTE_AT_STABLE])
    policies.replace(
        policies.path / "rollouts.yaml",
        rollout_yaml(
            steps="[{setWeight: 100}]",
            webhooks="\n"
            "    - {type: event, url: 'file:///etc/passwd'}\n"
            "    - {type: event, url: 'gopher://127.0.0.1:70/'}\n"
            "    - {type: event, url: 'http:///no-host'}\n"
            "    - {type: event, url: 'https://hooks.example/ok', timeout: 30s}\n"
            "    - {type: event, url: 'https://hooks.example/slow', timeout: 24h}",
        ),
    )
    policyset, errors = load_policy_dir(policies.path)
    assert policyset is None
    text = [str(e) for e in errors]
    assert len(errors) == 4, text
    assert [(e.file.rsplit("/", 1)[-1], e.line) for e in errors] == [
        ("rollouts.yaml", 10),
        ("rollouts.yaml", 11),
        ("rollouts.yaml", 12),
        ("rollouts.yaml", 14),
    ], text
    for index in (0, 1):
        assert f"webhooks[{index}].url" in text[index] or f"webhooks.{index}.url" in text[index]
        assert "http or https" in text[index], text[index]
    assert "host" in text[2], text[2]
    assert "timeout" in text[3] and "30 s" in text[3], text[3]


async def test_a_redirect_is_not_followed_and_counts_as_not_2xx(tmp_path: Path) -> None:
    async with HookServer() as hooks:
        hooks.replies["/confirm"] = Reply(302, location=hooks.url("/elsewhere"))
        async with rollout_controller(tmp_path, _gated(hooks.url("/confirm"))) as controller:
            driver = rollout_driver(controller, tick=0.05)
            driver.start()
            try:
                message = await _message_once(controller, driver, "answered 302")
            finally:
                await driver.stop()
    assert "redirect" in message and "not followed" in message, message
    assert hooks.calls_to("/elsewhere") == []
    assert rollout_status(controller, "payments").step == 0


async def test_the_reply_body_is_never_published(tmp_path: Path) -> None:
    async with HookServer() as hooks:
        hooks.replies["/confirm"] = Reply(503, body=f"db password: {SECRET}")
        url = hooks.url("/confirm") + f"?token={SECRET}"
        async with rollout_controller(tmp_path, _gated(url)) as controller:
            driver = rollout_driver(controller, tick=0.05)
            driver.start()
            try:
                await _message_once(controller, driver, "answered 503")
            finally:
                await driver.stop()
            published = RolloutStatus.of(rollout_status(controller, "payments")).model_dump_json()
            stored = (tmp_path / "state" / "breakwater.sqlite3").read_bytes()
    assert SECRET not in published, published
    assert SECRET.encode() not in stored


async def test_a_pending_hook_is_called_at_most_once_per_analysis_interval(
    tmp_path: Path,
) -> None:
    async with HookServer() as hooks:
        hooks.replies["/pre"] = Reply(503)
        yaml = rollout_yaml(
            steps="[{setWeight: 100}]",
            analysis="{interval: 1s, minRequests: 10}",
            webhooks=f"[{{type: pre-rollout, url: '{hooks.url('/pre')}', timeout: 1s}}]",
        )
        async with rollout_controller(tmp_path, yaml) as controller:
            driver = rollout_driver(controller, tick=0.05)
            driver.start()
            try:
                await asyncio.sleep(2.5)  # 50 turns, 2.5 intervals
            finally:
                await driver.stop()
    calls = [c.at for c in hooks.calls_to("/pre")]
    assert 1 <= len(calls) <= 3, len(calls)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(gap >= 0.8 for gap in gaps), gaps  # arrivals: the calls left 1 s apart


async def test_a_slow_hook_holds_only_its_own_rollout(tmp_path: Path) -> None:
    async with HookServer() as hooks:
        hooks.replies["/slow"] = Reply(200, delay=3.0)
        slow = rollout_yaml(
            name="a-slow",
            steps="[{setWeight: 100}]",
            webhooks=f"[{{type: pre-rollout, url: '{hooks.url('/slow')}', timeout: 5s}}]",
        )
        fast = rollout_yaml(name="b-fast", route="orders", steps="[{setWeight: 100}]")
        routes = (
            ROUTE_AT_STABLE,
            SplitRoute(
                name="orders", hostnames=("orders.example",), weights={"stable": 100, "canary": 0}
            ),
        )
        async with rollout_controller(tmp_path, f"{slow}---\n{fast}", routes=routes) as controller:
            driver = rollout_driver(controller, tick=0.05)
            driver.start()
            try:
                call = await hooks.wait_for_call("/slow")
                deadline = time.monotonic() + 1.0
                while driver.progress("b-fast") is None:
                    assert time.monotonic() < deadline, "b-fast waited for a-slow's hook"
                    await asyncio.sleep(0.02)
                assert call not in hooks.answered
            finally:
                await driver.stop()


async def test_hooks_to_hosts_not_allowed_are_not_called_and_the_status_says_why(
    tmp_path: Path,
) -> None:
    async with HookServer() as hooks:
        async with rollout_controller(tmp_path, _gated(hooks.url("/confirm"))) as controller:
            driver = rollout_driver(controller, tick=0.05, webhook_allow=["hooks.example"])
            driver.start()
            try:
                message = await _message_once(controller, driver, "--webhook-allow")
            finally:
                await driver.stop()
        assert hooks.calls == []
        assert "127.0.0.1" in message, message

        async with rollout_controller(tmp_path / "allowed", _gated(hooks.url("/confirm"))) as c2:
            allowed = rollout_driver(c2, tick=0.05, webhook_allow=["hooks.example", "127.0.0.1"])
            allowed.start()
            try:
                await hooks.wait_for_call("/confirm")
            finally:
                await allowed.stop()
