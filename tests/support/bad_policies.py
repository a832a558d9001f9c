"""Located-mistake cases: one bad file beside a good base directory, and the heads of the
documents a case's YAML is written into (so each case states the line its mistake is on)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from breakwater.translators.errors import PolicyError
from tests.support.policies import load_policy_dir

SERVICE = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata:
  name: payments
spec:
  endpoints:
    - {address: 127.0.0.1, port: 8080, labels: {version: stable}}
    - {address: 127.0.0.2, port: 8080, labels: {version: canary}}
  subsets:
    - {name: stable, labels: {version: stable}}
    - {name: canary, labels: {version: canary}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata:
  name: edge
spec:
  port: 10000
"""
"""The good base a bad file is read beside: the service `payments` (stable and canary) and
the gateway `edge`."""

ROUTE_HEAD = """\
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: r}
spec:
  gateways: [edge]
  rules:
"""
"""An HTTPRoute up to its rules; a case's rule starts on line 7."""

POLICY_HEAD = """\
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: p}
spec:
  targetRef: {name: payments}
"""
"""A ResiliencePolicy up to its spec's fields; a case's first field is on line 6."""

GATEWAY_HEAD = """\
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: g}
spec:
  port: 10001
"""
"""A Gateway up to its spec's fields; a case's first field is on line 6."""

Case = tuple[str, str, int, str | None, list[str]]
"""(case id, YAML, expected line, expected field, words the message must hold)"""

_Test = TypeVar("_Test", bound=Callable[..., Any])


def _under(head: str, indent: str, text: str) -> str:
    return head + "".join(f"{indent}{line}\n" for line in text.strip("\n").split("\n"))


def rule(text: str) -> str:
    """An HTTPRoute of one or more rules (YAML list items, written flush left)."""
    return _under(ROUTE_HEAD, "    ", text)


def policy(text: str) -> str:
    """A ResiliencePolicy on `payments` with these spec fields (written flush left)."""
    return _under(POLICY_HEAD, "  ", text)


def gateway(text: str) -> str:
    """A Gateway on port 10001 with these spec fields (written flush left)."""
    return _under(GATEWAY_HEAD, "  ", text)


def errors_of(tmp_path: Path, text: str) -> list[PolicyError]:
    """The errors of `text` as a file beside the good base; the set must be refused."""
    (tmp_path / "00-base.yaml").write_text(SERVICE)
    (tmp_path / "bad.yaml").write_text(textwrap.dedent(text))
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None, "a bad file must not produce a PolicySet"
    return [e for e in errors if e.file.endswith("bad.yaml")]


def located_cases(cases: Sequence[Case]) -> Callable[[_Test], _Test]:
    """Parametrizes a test over `cases` as (text, line, field, words), named by case id."""
    mark = pytest.mark.parametrize(
        ("text", "line", "field", "words"), [c[1:] for c in cases], ids=[c[0] for c in cases]
    )
    return mark  # type: ignore[no-any-return]
