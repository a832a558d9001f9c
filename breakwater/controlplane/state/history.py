"""What changed, when, and who changed it: every change that moves traffic, kept in the store.

After an incident the first question is "what changed at 14:02?". Weight
writes and resets (with the caller), rollout steps and decisions, and policy
reloads are each recorded as one entry with the time, who, what, and the
value before and after. Entries live in the state store, so every replica
and every restart sees the same history; the store keeps the newest
`HISTORY_LIMIT`. A history write that fails is logged and does not undo the
change it describes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from breakwater.controlplane.state.store import Store, StoreError

log = logging.getLogger(__name__)

HISTORY_LIMIT = 1000


@dataclass(frozen=True)
class Change:
    at: float
    """Unix time."""
    who: str
    """The caller (`token@ADDRESS`, or `ADDRESS` without a token), a rollout, or the policy files."""
    what: str
    before: str
    after: str
    route: str | None = None
    rule: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class History:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(
        self,
        who: str,
        what: str,
        before: str,
        after: str,
        *,
        route: str | None = None,
        rule: int | None = None,
    ) -> None:
        try:
            await self._store.append_change(
                entry(who, what, before, after, route=route, rule=rule), HISTORY_LIMIT
            )
        except StoreError as exc:
            log.error("could not record the change in the history: %s", exc)

    async def read(self, *, route: str | None = None, limit: int = 100) -> list[Change]:
        """The newest changes first (of one route, when given)."""
        entries = await self._store.changes(HISTORY_LIMIT)
        out = []
        for entry in reversed(entries):
            if route is not None and entry.get("route") != route:
                continue
            out.append(Change(**entry))
            if len(out) >= limit:
                break
        return out


def entry(
    who: str,
    what: str,
    before: str,
    after: str,
    *,
    route: str | None = None,
    rule: int | None = None,
) -> dict[str, Any]:
    """One change as the store keeps it, logged: for a write that saves its history entry in
    the same transaction as what it describes (a registration), and for `History.record`."""
    log.info("change by %s: %s (%s -> %s)", who, what, before, after)
    return Change(time.time(), who, what, before, after, route, rule).to_json()


def describe_weights(weights: dict[str, int]) -> str:
    return " ".join(f"{label}={weight}" for label, weight in weights.items())
