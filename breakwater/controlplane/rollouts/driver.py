"""Runs every Rollout of the served policy set: observes, asks the engine, writes what it says.

Each turn (a few times a second), for each rollout this replica drives:

1. Its progress is read from the controller, which holds what the store has
   (on etcd, what any replica last wrote), so a restarted or new driver goes
   on at the same step.
2. What the progress asks for is made so: the rule's weights are written as
   an override (the rollout may write them; nobody else may meanwhile), the
   header route is on or off.
3. What happened is observed: whether every proxy that serves the route
   acknowledged a configuration built after that write (or rejected it), the
   canary's and the stable's numbers from the fleet once an analysis
   interval has passed, and the webhooks.
4. The engine's answer is saved, compare-and-set against the revision of the
   progress read in step 1: an operator's command that landed meanwhile (while
   a webhook took its time, say) wins, and the turn is dropped; the next one
   starts from the command. Each new event is logged and posted to the `event`
   webhooks in the background.

Each rollout is driven by a task of its own, so a slow webhook holds only its
own rollout.

With several replicas on etcd, one replica drives each rollout: the one that
holds its claim (under the replica's lease). The others still serve the
header route and weights it writes, and answer commands by writing the
progress the driver then follows. The driver's writes carry the claim: once
it is lost (the lease expired, another replica took it) they are refused,
even mid-turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from breakwater.controlplane.fleet.aggregate import FleetStats, summarize
from breakwater.controlplane.rollouts import webhooks
from breakwater.controlplane.rollouts.engine import (
    Observation,
    RolloutMoved,
    RolloutState,
    Sample,
    advance,
    command,
    start,
)
from breakwater.controlplane.rollouts.phases import TERMINAL, Command
from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.state.store import ClaimLost, RevisionConflict, StoreError
from breakwater.controlplane.xds.status import StreamStatus
from breakwater.translators.names import cluster_name, mesh_route_config_name, route_config_name
from breakwater.translators.overrides import rule_labels
from breakwater.translators.policyset import PolicySet
from breakwater.translators.rollout_model import Rollout
from breakwater.translators.route_model import rule_index_of
from breakwater.xds_types import ROUTE_TYPE

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25
CLAIM_SECONDS = 1.0
"""How long a claim's answer is trusted before asking the store again (well under the
5 s lease it lives under)."""
RECONNECT_GRACE = 10.0
"""Seconds after this process takes a rollout up (it started, or took over the claim) during
which no proxy serving the route means that none has reconnected yet, not that there is none.
Until then a step is not acknowledged: the proxies still run what they held before, and the
analysis must not judge that as the new step. `breakwater bootstrap` has proxies retry at
most 3 s apart."""
COMMAND_ATTEMPTS = 3
"""Times a command is computed afresh when the progress moved under it before it was saved."""
ResourcesOf = Callable[[Hashable], tuple[frozenset[str], frozenset[str]]]
"""A group's cluster and route-configuration names (see `FleetReports.resources_of`)."""


def spec_hash(rollout: Rollout) -> str:
    """Which spec a progress belongs to: a changed Rollout starts again."""
    text = rollout.spec.model_dump_json(by_alias=True, exclude_none=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RolloutTarget:
    """What one rollout drives, resolved against the served policy set."""

    route: str
    rule: int
    gateways: frozenset[str]
    labels: tuple[str, ...]
    canary_cluster: str
    stable_cluster: str

    def weights(self, canary: str, stable: str, canary_weight: int) -> dict[str, int]:
        """The rule's weights for a canary share: the rest to stable, other backends 0."""
        return {
            label: canary_weight
            if label == canary
            else (100 - canary_weight if label == stable else 0)
            for label in self.labels
        }


def target_of(policyset: PolicySet, rollout: Rollout) -> RolloutTarget | None:
    route = policyset.routes.get(rollout.spec.route_ref.name)
    if route is None:
        return None
    index = rule_index_of(route, rollout.spec.route_ref.rule)
    if index is None:
        return None
    rule = route.spec.rules[index]
    clusters = {
        label: cluster_name(b.service, b.subset)
        for label, b in zip(rule_labels(rule), rule.backends, strict=True)
    }
    return RolloutTarget(
        route=route.name,
        rule=index,
        # The route configurations of its gateways, and of the services it is attached to:
        # a proxyless client holding one must acknowledge each step too.
        gateways=frozenset(route_config_name(g) for g in route.spec.gateways)
        | frozenset(mesh_route_config_name(s) for s in route.spec.services),
        labels=tuple(clusters),
        canary_cluster=clusters[rollout.spec.canary],
        stable_cluster=clusters[rollout.spec.stable],
    )


class RolloutDriver:
    def __init__(
        self,
        controller: PolicyController,
        fleet: FleetStats,
        streams: Callable[[], Sequence[StreamStatus]],
        resources_of: ResourcesOf,
        built_from: Callable[[Hashable], float],
        claim: Callable[[str], Awaitable[bool]],
        registry: CollectorRegistry,
        *,
        tick: float = TICK_SECONDS,
        webhook_allow: Collection[str] = (),
    ) -> None:
        self._controller = controller
        self._fleet = fleet
        self._streams = streams
        self._resources_of = resources_of
        self._built_from = built_from
        self._claim = claim
        self._tick = tick
        self._applied: dict[str, tuple[float, dict[str, int] | None, bool]] = {}
        """Rollout → (monotonic time of its last write, the weights, the header route)."""
        self._judged_at: dict[str, float] = {}
        self._claims: dict[str, tuple[float, bool]] = {}
        self._taken_up: dict[str, float] = {}
        """Rollout → monotonic time this process last began driving it."""
        self._task: asyncio.Task[None] | None = None
        self._drivers: dict[str, asyncio.Task[None]] = {}
        """Rollout → the task that drives it."""
        self._notifying: dict[str, asyncio.Task[None]] = {}
        """Rollout → the task posting its latest events (each waits for the one before)."""
        self._hooks = webhooks.Webhooks(webhook_allow)
        self._not_started: dict[str, str] = {}
        """Rollout → why its pre-rollout hook holds it (logged when that changes)."""
        self.analyses = Counter(
            "breakwater_rollout_analysis",
            "Analysis intervals judged, by rollout and result (passed, failed, inconclusive).",
            ["rollout", "result"],
            registry=registry,
        )

    # --- wiring ------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._drivers.values(), *self._notifying.values()) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._drivers.clear()
        self._notifying.clear()

    async def _run(self) -> None:
        """Keep one task per served rollout: started when it appears, stopped when it goes."""
        while True:
            policyset = self._controller.state.base
            names = set(policyset.rollouts) if policyset is not None else set()
            loop = asyncio.get_running_loop()
            for name in sorted(names - set(self._drivers)):
                self._drivers[name] = loop.create_task(
                    self._drive_forever(name), name=f"breakwater-rollout-{name}"
                )
            for name in set(self._drivers) - names:
                self._drivers.pop(name).cancel()
                self._forget(name)
            await asyncio.sleep(self._tick)

    async def _drive_forever(self, name: str) -> None:
        while True:
            try:
                await self.turn_of(name)
            except StoreError as exc:
                log.error("rollout %s waits for the state store: %s", name, exc)
            except Exception:
                log.exception("a turn of rollout %s failed; trying again", name)
            await asyncio.sleep(self._tick)

    def _forget(self, name: str) -> None:
        memos = (self._applied, self._judged_at, self._claims, self._taken_up, self._not_started)
        for memo in memos:
            memo.pop(name, None)
        self._hooks.forget(name)

    # --- one turn ------------------------------------------------------------------

    def progress(self, name: str) -> RolloutState | None:
        data = self._controller.rollouts.get(name)
        if data is None:
            return None
        return RolloutState.from_json(data)

    async def turn(self) -> None:
        """One turn of every rollout, one after the other (running, each has its own task)."""
        policyset = self._controller.state.base
        for name in sorted(policyset.rollouts) if policyset is not None else []:
            await self.turn_of(name)

    async def turn_of(self, name: str) -> None:
        policyset = self._controller.state.base
        rollout = policyset.rollouts.get(name) if policyset is not None else None
        if policyset is None or rollout is None:
            return
        if not await self._holds(name):
            self._taken_up.pop(name, None)
            return
        self._taken_up.setdefault(name, time.monotonic())
        try:
            await self._drive(policyset, name, rollout)
        except ClaimLost as exc:
            self._claims.pop(name, None)  # ask the store again next turn
            log.warning("rollout %s: %s; this replica's turn is dropped", name, exc)

    async def _holds(self, name: str) -> bool:
        """Whether this replica drives the rollout, asking the store at most once a second."""
        now = time.monotonic()
        asked = self._claims.get(name)
        if asked is None or now - asked[0] >= CLAIM_SECONDS:
            asked = (now, await self._claim(f"rollout/{name}"))
            self._claims[name] = asked
        return asked[1]

    async def _drive(self, policyset: PolicySet, name: str, rollout: Rollout) -> None:
        target = target_of(policyset, rollout)
        if target is None:
            return
        data = self._controller.rollouts.get(name)
        revision = self._controller.rollout_revisions.get(name, 0)
        digest = spec_hash(rollout)
        now = time.time()
        payload = {"rollout": name, "route": target.route, "rule": target.rule}
        claim = f"rollout/{name}"
        if data is None or data.get("spec") != digest:
            every = rollout.spec.analysis.interval.total_seconds()
            hooks = rollout.spec.webhooks
            held = await self._hooks.all_pass(hooks, "pre-rollout", payload, every)
            if held is not None:
                if self._not_started.get(name) != held:
                    log.warning("rollout %s is not started: %s", name, held)
                self._not_started[name] = held
                return
            self._not_started.pop(name, None)
            state = start(rollout.spec, now)
            if data is not None:
                log.info("rollout %s: the Rollout changed, starting again", name)
            await self._save(name, rollout, digest, state, None, revision, claim)
            return
        state = RolloutState.from_json(data)
        await self._make_so(name, rollout, target, state)
        seen = await self._observe(name, rollout, target, state, now, payload)
        after = advance(state, rollout.spec, seen)
        if after != state and await self._save(
            name, rollout, digest, after, state, revision, claim
        ):
            await self._make_so(name, rollout, target, after)  # a rollback leaves at once

    async def _make_so(
        self, name: str, rollout: Rollout, target: RolloutTarget, state: RolloutState
    ) -> None:
        """Write the weights the progress asks for, once per change, and note when the config
        that carries them (and the header route, which saving the progress serves) was made."""
        weights = target.weights(rollout.spec.canary, rollout.spec.stable, state.canary_weight)
        applied = self._applied.get(name)
        if applied is not None and (applied[1], applied[2]) == (weights, state.header_route):
            return
        # Seen for the first time (a restart): what the store holds is already served.
        written_at = 0.0 if applied is None else self._controller.state.changed_at
        current = self._controller.get_weights(target.route, target.rule)
        if current.source != "override" or current.weights != weights:
            await self._controller.set_weights(
                target.route, target.rule, weights, None, by_rollout=name
            )
            written_at = self._controller.state.changed_at
        self._applied[name] = (written_at, weights, state.header_route)

    def _acknowledged(self, name: str, target: RolloutTarget) -> tuple[bool, str | None]:
        """Whether every proxy serving the route holds a config built after our last write.

        With none connected, only once RECONNECT_GRACE has passed since this process took
        the rollout up: right after a restart or a takeover, the proxies are still on their
        way back."""
        written_at = self._applied[name][0] if name in self._applied else float("inf")
        serving = False
        for stream in self._streams():
            _, route_configs = self._resources_of(stream.group)
            if not target.gateways & route_configs:
                continue
            serving = True
            routes = stream.types.get(ROUTE_TYPE)
            if routes is None:
                return False, None
            if routes.state == "nacked":
                return False, f"{stream.node_id}: {routes.nack_message}"
            if self._built_from(stream.group) < written_at or routes.state != "synced":
                return False, None
        if not serving:
            taken_up = self._taken_up.get(name, time.monotonic())
            return time.monotonic() - taken_up >= RECONNECT_GRACE, None
        return True, None

    async def _observe(
        self,
        name: str,
        rollout: Rollout,
        target: RolloutTarget,
        state: RolloutState,
        now: float,
        payload: dict[str, Any],
    ) -> Observation:
        acked, rejected = self._acknowledged(name, target) if state.awaiting_ack else (False, None)
        analysis = rollout.spec.analysis
        interval = analysis.interval.total_seconds()
        sample = None
        rollback = None
        since = max(state.step_started, self._judged_at.get(name, 0.0))
        if not state.awaiting_ack and state.phase not in TERMINAL and now - since >= interval:
            self._judged_at[name] = now
            sample = self._sample(rollout, target, interval)
            if state.canary_gets_traffic:
                rollback = await self._hooks.any_pass(
                    rollout.spec.webhooks, "rollback", payload, interval
                )
        hold = None
        plan = rollout.spec.plan()
        upcoming = plan[state.step + 1] if state.step + 1 < len(plan) else None
        final = upcoming is None or upcoming.set_weight == 100
        if final and not state.awaiting_ack and state.phase == "Progressing":
            hold = await self._hooks.all_pass(
                rollout.spec.webhooks, "confirm-promotion", payload, interval
            )
        return Observation(
            now, acked=acked, rejected=rejected, sample=sample, hold=hold, rollback=rollback
        )

    def _sample(self, rollout: Rollout, target: RolloutTarget, seconds: float) -> Sample:
        at = time.monotonic()
        canary = summarize(self._fleet.recent([target.canary_cluster], at, seconds), seconds)
        stable = summarize(self._fleet.recent([target.stable_cluster], at, seconds), seconds)
        latency = rollout.spec.analysis.latency
        percentile = latency.percentile if latency is not None else 99
        pick = {50: canary.p50_ms, 95: canary.p95_ms, 99: canary.p99_ms}[percentile]
        return Sample(
            canary_requests=canary.requests,
            canary_error_percent=canary.error_percent,
            canary_latency_ms=pick,
            stable_error_percent=stable.error_percent,
            seconds=seconds,
        )

    async def _save(
        self,
        name: str,
        rollout: Rollout,
        digest: str,
        state: RolloutState,
        before: RolloutState | None,
        revision: int,
        claim: str | None,
    ) -> bool:
        """Save the progress if it is still at `revision` (and, with `claim`, while this replica
        holds it); False when it moved meanwhile, and nothing of this turn is kept."""
        try:
            await self._controller.put_rollout(
                name, {**state.to_json(), "spec": digest}, revision, claim
            )
        except RevisionConflict:
            log.info(
                "rollout %s: its progress changed while this turn ran (a command?); the turn "
                "is dropped and the next one starts from what was saved",
                name,
            )
            return False
        if state.last_analysis is not None and (
            before is None or state.last_analysis != before.last_analysis
        ):
            self.analyses.labels(name, state.last_analysis.verdict).inc()
        new_events = state.history[len(before.history) :] if before is not None else state.history
        for event in new_events:
            log.info(
                "rollout %s: %s (phase %s, step %d, canary %d %%)",
                name, event.message, event.phase, event.step, event.canary_weight,
            )  # fmt: skip
            await self._controller.history.record(
                f"rollout {name}",
                event.message,
                f"{before.canary_weight} %" if before is not None else "-",
                f"{event.canary_weight} %",
                route=rollout.spec.route_ref.name,
                rule=self._rule_index(rollout),
            )
        if new_events and any(hook.type == "event" for hook in rollout.spec.webhooks):
            self._notify(name, rollout, [{"rollout": name, **e.to_json()} for e in new_events])
        return True

    def _notify(self, name: str, rollout: Rollout, events: list[dict[str, Any]]) -> None:
        """Post the events in the background (a slow hook holds neither the turn nor an
        operator's command), in order: after the ones posted before."""
        previous = self._notifying.get(name)

        async def post() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            for event in events:
                await self._hooks.notify(rollout.spec.webhooks, event)

        self._notifying[name] = asyncio.get_running_loop().create_task(post())

    def _rule_index(self, rollout: Rollout) -> int | None:
        policyset = self._controller.state.base
        target = target_of(policyset, rollout) if policyset is not None else None
        return target.rule if target is not None else None

    # --- commands ----------------------------------------------------------------------

    async def command(
        self, name: str, what: Command, check: Callable[[], None] | None = None
    ) -> RolloutState:
        """An operator's command, on whichever replica got it; the driver follows the result.

        Saved compare-and-set like the driver's turns: when the progress moved between reading
        it and saving, the command is computed again from the new progress (and `check`, which
        raises when the rollout is no longer where the operator saw it, runs again)."""
        for _ in range(COMMAND_ATTEMPTS):
            policyset = self._controller.state.base
            rollout = policyset.rollouts.get(name) if policyset is not None else None
            state = self.progress(name)
            revision = self._controller.rollout_revisions.get(name, 0)
            if rollout is None or state is None:
                raise RolloutNotFound(
                    f"there is no Rollout named {name!r} in progress; `breakwater rollout "
                    "status` lists them"
                )
            if check is not None:
                check()
            after = command(state, rollout.spec, what, time.time())
            if await self._save(name, rollout, spec_hash(rollout), after, state, revision, None):
                return after
            if self._controller.store.shared:
                await self._controller.load_store()  # what another replica wrote
        raise RolloutMoved(
            f"Rollout {name!r} kept moving while {what} was being saved, and {what} was not "
            "done; read it again and decide"
        )


class RolloutNotFound(LookupError):
    """No Rollout of that name is served, or it has not started yet."""
