"""A rollout's webhooks: POST a JSON account of the rollout, judge the answer by its status.

As in Flagger: `pre-rollout` must answer 2xx before the first step (it is
asked again every analysis interval until it does); `confirm-promotion`
must answer 2xx before the canary takes all the traffic (the rollout holds
meanwhile); a `rollback` hook that answers 2xx rolls the canary back;
`event` hooks hear of every event and their answers do not matter. A
timeout or a refused connection counts as "not 2xx".

A hook's URL is written in the policy files, but the control plane calls it from
inside the network, and what it says about the call is published by the
unauthenticated `GET /v1/rollouts`. So, as Kubernetes admission webhooks and
Argo Rollouts' web metrics do:

* only the status code counts; the body is not read, so no internal page can
  leak through a rollout's status;
* redirects are not followed (a 3xx is not 2xx, and the reason says so): a hook
  cannot bounce the call to an address the operator did not write;
* `serve --webhook-allow HOST` limits the hosts a hook may name; a hook to any
  other host is not called, and the rollout's status says why;
* a hook is asked at most once per analysis interval (Flagger's rhythm), not on
  every turn of the driver.

What is published of a URL is its scheme, host, port and path: a token in its
query or user part stays in the policy files.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Collection
from typing import Any

import aiohttp

from breakwater.translators.rollout_model import Webhook

log = logging.getLogger(__name__)


def shown(url: str) -> str:
    """The URL as the status may publish it: no user, password, query or fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class Webhooks:
    """Calls the hooks of every rollout of one driver: where they may go, and how often."""

    def __init__(self, allow: Collection[str] = ()) -> None:
        self.allow = frozenset(host.lower().strip("[]") for host in allow)
        """Hosts a hook may name (`serve --webhook-allow`); empty: any."""
        self._asked: dict[tuple[str, str, int], tuple[float, bool, str]] = {}
        """(rollout, kind, index among the rollout's hooks) → (monotonic time, 2xx, reason)."""

    def refused(self, hook: Webhook) -> str | None:
        """Why the hook may not be called, or None."""
        host = (urllib.parse.urlsplit(hook.url).hostname or "").lower()
        if not self.allow or host in self.allow:
            return None
        return (
            f"{shown(hook.url)} was not called: {host} is not a host `serve --webhook-allow` "
            "names; add it there, or point the hook at an allowed host"
        )

    async def call(self, hook: Webhook, payload: dict[str, Any]) -> tuple[bool, str]:
        """(whether it answered 2xx, its status code or why it did not answer)."""
        refused = self.refused(hook)
        if refused is not None:
            return False, refused
        url = shown(hook.url)
        seconds = hook.timeout.total_seconds()
        timeout = aiohttp.ClientTimeout(total=seconds)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    hook.url, json={**payload, "type": hook.type}, allow_redirects=False
                ) as response,
            ):
                status = response.status
        except TimeoutError:
            return False, f"{url} did not answer within {seconds:g} s"
        except aiohttp.ClientError as exc:
            return False, f"{url} could not be reached ({type(exc).__name__})"
        if 300 <= status < 400:
            return False, (
                f"{url} answered {status}, a redirect, which is not followed; give the hook "
                "the URL that answers"
            )
        return 200 <= status < 300, f"{url} answered {status}"

    async def _ask(
        self, rollout: str, kind: str, index: int, hook: Webhook, payload: dict[str, Any],
        every: float,
    ) -> tuple[bool, str]:  # fmt: skip
        """The hook's answer, asked again only once `every` seconds have passed."""
        key = (rollout, kind, index)
        last = self._asked.get(key)
        now = time.monotonic()
        if last is not None and now - last[0] < every:
            return last[1], last[2]
        ok, reason = await self.call(hook, payload)
        self._asked[key] = (now, ok, reason)
        return ok, reason

    async def all_pass(
        self, hooks: list[Webhook], kind: str, payload: dict[str, Any], every: float
    ) -> str | None:
        """None when every hook of that kind answered 2xx; else why not, as a sentence."""
        for index, hook in enumerate(hooks):
            if hook.type != kind:
                continue
            ok, reason = await self._ask(payload["rollout"], kind, index, hook, payload, every)
            if not ok:
                return f"waiting for the {kind} webhook: {reason}"
        return None

    async def any_pass(
        self, hooks: list[Webhook], kind: str, payload: dict[str, Any], every: float
    ) -> str | None:
        """Why the first hook of that kind to answer 2xx asked for it; None when none did."""
        for index, hook in enumerate(hooks):
            if hook.type == kind:
                ok, reason = await self._ask(payload["rollout"], kind, index, hook, payload, every)
                if ok:
                    return f"the {kind} webhook asked for it ({reason})"
        return None

    async def notify(self, hooks: list[Webhook], payload: dict[str, Any]) -> None:
        """Tell the `event` hooks of one event (each event once, whatever the interval)."""
        for hook in hooks:
            if hook.type == "event":
                ok, reason = await self.call(hook, payload)
                if not ok:
                    log.warning("rollout %s: event webhook: %s", payload.get("rollout"), reason)

    def forget(self, rollout: str) -> None:
        """A rollout no longer served: its answers are not kept."""
        for key in [k for k in self._asked if k[0] == rollout]:
            del self._asked[key]
