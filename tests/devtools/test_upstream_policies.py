"""`python -m breakwater.devtools.upstream --policies DIR` starts what the examples route to."""

from __future__ import annotations

from pathlib import Path

from breakwater.devtools.upstream.policies import endpoints_of

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def test_every_http_endpoint_of_the_examples_with_its_subset_and_the_rest_named() -> None:
    endpoints, skipped = endpoints_of(EXAMPLES)
    assert [(e.instance, e.port) for e in endpoints] == [
        ("payments-stable", 18081),
        ("payments-canary", 18082),
        ("payments-fallback", 18083),
        ("payments-shadow", 18084),
    ]
    assert {s.service for s in skipped} == {"ledger", "catalog", "otel-collector"}
