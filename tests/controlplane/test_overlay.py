"""The served set is the base with the store's state laid over it, by a pure function."""

from __future__ import annotations

from breakwater.controlplane.state.overlay import overlay
from breakwater.controlplane.state.store import Drain, WeightOverride
from breakwater.translators.policyset import PolicySet
from tests.support.policies import ROUTE, SplitRoute, gateway, payments_service
from tests.translators.support import policyset_from_text

BASE = policyset_from_text(
    "---\n".join([payments_service(9001, 9002), gateway(10000), SplitRoute().yaml()])
)


def _weights(policyset: PolicySet) -> dict[str | None, int]:
    """The split rule's weights as served."""
    rule = policyset.routes[ROUTE].spec.rules[0]
    return {backend.subset: backend.weight for backend in rule.backends}


def test_nothing_laid_over_serves_the_base_weights() -> None:
    effective, dropped = overlay(BASE, [], {}, {})
    assert _weights(effective) == {"stable": 90, "canary": 10}
    assert dropped == []


def test_an_override_replaces_its_rules_weights_and_one_that_does_not_fit_is_dropped() -> None:
    fits = WeightOverride(ROUTE, 0, {"stable": 50, "canary": 50}, 3)
    effective, dropped = overlay(BASE, [fits], {}, {})
    assert _weights(effective) == {"stable": 50, "canary": 50}
    stale = WeightOverride(ROUTE, 0, {"stable": 50, "blue": 50}, 4)
    effective, dropped = overlay(BASE, [stale], {}, {})
    assert _weights(effective) == {"stable": 90, "canary": 10}
    assert [(d.route, d.rule) for d in dropped] == [(ROUTE, 0)]


def test_a_drain_applies_to_an_endpoint_the_base_still_lists() -> None:
    drains = {
        ("payments", "127.0.0.1:9001"): Drain("payments", "127.0.0.1:9001", "ops", 1.0, 5),
        ("payments", "127.0.0.1:9999"): Drain("payments", "127.0.0.1:9999", "ops", 1.0, 6),
    }
    effective, _ = overlay(BASE, [], drains, {})
    assert effective.drained == {"payments": frozenset({"127.0.0.1:9001"})}
    assert BASE.drained != effective.drained
