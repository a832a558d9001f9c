"""A Rollout driven in the test's own process: a real SQLite store, the policy files, the driver.

No proxy process: the driver is handed the proxies' streams (none, by default) and
when each group's snapshot was built, as the reconciler would report them. Tests
that need a real Envoy's acknowledgements run `breakwater serve` instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Hashable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from breakwater.controlplane.fleet.aggregate import FleetStats
from breakwater.controlplane.rollouts.driver import RolloutDriver
from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.state.store import SqliteStore, Store
from breakwater.controlplane.xds.status import StreamStatus
from tests.support.policies import PolicyDir, SplitRoute

GROUP: Hashable = ("edge", ())
"""The node group of the `edge` gateway's proxies."""

ROUTE_AT_STABLE = SplitRoute(weights={"stable": 100, "canary": 0})


@contextlib.asynccontextmanager
async def rollout_controller(
    path: Path,
    rollouts: str,
    *,
    routes: Sequence[SplitRoute] = (ROUTE_AT_STABLE,),
    store: Store | None = None,
) -> AsyncIterator[PolicyController]:
    """The policies (with `rollouts` as rollouts.yaml) read, over a SQLite store in
    `path/state` unless another store is given (it is closed afterwards either way)."""
    policies = PolicyDir.create(path / "policies", routes=routes)
    policies.replace(policies.path / "rollouts.yaml", rollouts)
    used = store if store is not None else SqliteStore(path / "state")
    controller = PolicyController(policies.path, used)
    try:
        await controller.load_store()
        assert await controller.reload(), controller.state.load_errors
        yield controller
    finally:
        await used.close()


def rollout_driver(
    controller: PolicyController,
    streams: Sequence[StreamStatus] = (),
    built_from: dict[Hashable, float] | None = None,
    *,
    claim: Any = None,
    **options: Any,
) -> RolloutDriver:
    """A driver over `controller`; it always holds the claim unless `claim` says otherwise.

    `built_from` stands in for the reconciler's record of which change each group's
    snapshot was built from; `options` go to the driver as they are (`tick`, ...)."""
    built = {} if built_from is None else built_from

    async def always(what: str) -> bool:
        return True

    return RolloutDriver(
        controller,
        FleetStats(),
        lambda: streams,
        lambda group: (frozenset(), frozenset({"edge"}) if group == GROUP else frozenset()),
        lambda group: built.get(group, 0.0),
        claim if claim is not None else always,
        CollectorRegistry(),
        **options,
    )


def rollout_yaml(name: str = "payments", route: str = "payments", **spec: str) -> str:
    """A Rollout of `route`'s `split` rule; each keyword is one more line of its spec
    (`steps="[{setWeight: 10}]"`), in flow style."""
    lines = "".join(f"  {key}: {value}\n" for key, value in spec.items())
    return (
        "apiVersion: breakwater.dev/v1alpha1\nkind: Rollout\n"
        f"metadata: {{name: {name}}}\nspec:\n"
        f"  routeRef: {{name: {route}, rule: split}}\n  stable: stable\n  canary: canary\n" + lines
    )
