"""A rollout's webhooks: POST a JSON account of the rollout, judge the answer by its status.

As in Flagger: `pre-rollout` must answer 2xx before the first step (it is
asked again every analysis interval until it does); `confirm-promotion`
must answer 2xx before the canary takes all the traffic (the rollout holds
meanwhile); a `rollback` hook that answers 2xx rolls the canary back;
`event` hooks hear of every event and their answers do not matter. A
timeout or a refused connection counts as "not 2xx".
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from breakwater.translators.rollout_model import Webhook

log = logging.getLogger(__name__)


async def call(hook: Webhook, payload: dict[str, Any]) -> tuple[bool, str]:
    """(whether it answered 2xx, what it said or why it did not answer)."""
    timeout = aiohttp.ClientTimeout(total=hook.timeout.total_seconds())
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(hook.url, json={**payload, "type": hook.type}) as response,
        ):
            text = (await response.text())[:200]
            return (
                200 <= response.status < 300,
                f"{hook.url} answered {response.status} {text}".strip(),
            )
    except TimeoutError:
        return False, f"{hook.url} did not answer within {hook.timeout.total_seconds():g} s"
    except aiohttp.ClientError as exc:
        return False, f"{hook.url} could not be reached: {exc}"


async def all_pass(hooks: list[Webhook], kind: str, payload: dict[str, Any]) -> str | None:
    """None when every hook of that kind answered 2xx; else why not, as a sentence."""
    for hook in hooks:
        if hook.type != kind:
            continue
        ok, detail = await call(hook, payload)
        if not ok:
            return f"waiting for the {kind} webhook: {detail}"
    return None


async def any_pass(hooks: list[Webhook], kind: str, payload: dict[str, Any]) -> str | None:
    """What the first hook of that kind to answer 2xx said; None when none did."""
    for hook in hooks:
        if hook.type == kind:
            ok, detail = await call(hook, payload)
            if ok:
                return f"the {kind} webhook asked for it ({detail})"
    return None


async def notify(hooks: list[Webhook], payload: dict[str, Any]) -> None:
    for hook in hooks:
        if hook.type == "event":
            ok, detail = await call(hook, payload)
            if not ok:
                log.warning("rollout %s: event webhook: %s", payload.get("rollout"), detail)
