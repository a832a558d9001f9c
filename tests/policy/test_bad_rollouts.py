"""Rollouts that cannot run are refused with the file, the line and what is allowed: a missing
route, rule or backend, two rollouts on one rule, a weight step down, steps and shorthand mixed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.bad_policies import SERVICE
from tests.support.errors import assert_located
from tests.support.policies import SplitRoute, load_policy_dir

ROUTE = "---\n" + SplitRoute().yaml()


def rollout(name: str, spec: str) -> str:
    return (
        "---\napiVersion: breakwater.dev/v1alpha1\nkind: Rollout\n"
        f"metadata: {{name: {name}}}\nspec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")
    )


CASES = [
    (
        "missing-route",
        rollout("r", "routeRef: {name: orders}\nstable: stable\ncanary: canary\nstepWeight: 10\n"),
        6,
        "spec.routeRef.name",
        ["HTTPRoute 'orders' is not declared", "declared routes: payments"],
    ),
    (
        "missing-rule",
        rollout(
            "r",
            "routeRef: {name: payments, rule: main}\nstable: stable\ncanary: canary\nstepWeight: 10\n",
        ),
        6,
        "spec.routeRef.rule",
        ["has no rule 'main'", "named split"],
    ),
    (
        "missing-backend",
        rollout(
            "r",
            "routeRef: {name: payments, rule: split}\nstable: stable\ncanary: green\nstepWeight: 10\n",
        ),
        8,
        "spec.canary",
        ["canary 'green' is not a backend", "its backends: stable, canary"],
    ),
    (
        "weight-goes-down",
        rollout(
            "r",
            "routeRef: {name: payments}\nstable: stable\ncanary: canary\nsteps:\n"
            "  - setWeight: 50\n  - setWeight: 20\n",
        ),
        11,
        "spec.steps[1].setWeight",
        ["lowers the canary from 50 % to 20 %", "rollout abort"],
    ),
    (
        "two-kinds-of-step",
        rollout(
            "r",
            "routeRef: {name: payments}\nstable: stable\ncanary: canary\nsteps:\n"
            "  - {setWeight: 50, pause: {}}\n",
        ),
        10,
        "spec.steps[0]",
        ["exactly one of setWeight, setHeaderRoute or pause", "this one has setWeight, pause"],
    ),
    (
        "steps-and-shorthand",
        rollout(
            "r",
            "routeRef: {name: payments}\nstable: stable\ncanary: canary\nstepWeight: 10\n"
            "steps:\n  - setWeight: 50\n",
        ),
        5,
        None,
        ["either `steps` or `stepWeight`"],
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_rollout_that_cannot_run_is_located(
    tmp_path: Path, text: str, line: int, field: str | None, words: list[str]
) -> None:
    (tmp_path / "00-base.yaml").write_text(SERVICE + ROUTE)
    (tmp_path / "bad.yaml").write_text(text)
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None
    assert_located([e for e in errors if e.file.endswith("bad.yaml")], line, field, words)


def test_two_rollouts_on_one_rule_are_refused_on_the_second(tmp_path: Path) -> None:
    spec = "routeRef: {name: payments, rule: 0}\nstable: stable\ncanary: canary\nstepWeight: 10\n"
    (tmp_path / "00-base.yaml").write_text(SERVICE + ROUTE)
    (tmp_path / "bad.yaml").write_text(rollout("a", spec) + rollout("b", spec))
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None
    (error,) = errors
    assert "Rollout 'a' already drives HTTPRoute 'payments' rule 0" in str(error)
    assert error.name == "b"
