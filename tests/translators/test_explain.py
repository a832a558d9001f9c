"""`breakwater explain` over the examples, word for word, and how its table is put together.

The meanings are stated by the translator slices that write each field; the
expected outputs below were recorded before they moved there, so they hold
the command to what it always printed. Regenerate with
`UPDATE_GOLDENS=1 .venv/bin/pytest tests/translators` and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from breakwater.cli import main
from breakwater.translators.capacity_model import GatewayLimits
from breakwater.translators.envoy import (
    adaptive,
    admission,
    balancing,
    bulkhead,
    clusters,
    endpoints,
    fallback,
    faults,
    global_ratelimit,
    headers,
    health,
    mirror,
    outlier,
    ratelimit,
    retries,
)
from breakwater.translators.explain.gateway import (
    LISTENER_MEANINGS,
    TELEMETRY_MEANINGS,
    explain_gateway,
)
from breakwater.translators.explain.meanings import FieldMeaning
from breakwater.translators.explain.service import (
    MEANINGS,
    RULE_MEANINGS,
    explain_rule,
    explain_service,
)
from breakwater.translators.explain.settings import _collect
from breakwater.translators.telemetry_model import AccessLog, Tracing
from tests.translators.support import load_case

EXAMPLES = Path(__file__).parents[2] / "deploy" / "examples"
EXPECTED = Path(__file__).parent / "explain"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"
SERVICES = ["payments", "payments-fallback", "payments-shadow", "ledger", "catalog"]
GATEWAYS = ["gateway/edge", "gateway/internal"]
"""A gateway's telemetry and what each response flag in its access log points at."""


def _stem(name: str) -> str:
    return name.replace("/", "-")


@pytest.mark.parametrize("output", ["table", "json"])
@pytest.mark.parametrize("service", SERVICES + GATEWAYS)
def test_explain_prints_what_it_always_printed(
    service: str, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(EXAMPLES), service, "--output", output]) == 0
    printed = capsys.readouterr().out
    expected = EXPECTED / f"{_stem(service)}.{'txt' if output == 'table' else 'json'}"
    if UPDATE:
        expected.write_text(printed)
    assert printed == expected.read_text(), f"breakwater explain {service} differs from {expected}"


def test_every_expected_output_is_checked() -> None:
    stems = sorted(_stem(name) for name in SERVICES + GATEWAYS)
    assert sorted(p.stem for p in EXPECTED.glob("*.txt")) == stems
    assert sorted(p.stem for p in EXPECTED.glob("*.json")) == stems


def test_an_unknown_gateway_is_named_with_the_declared_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", str(EXAMPLES), "gateway/egde"]) == 1
    assert "gateway 'egde' is not declared; declared gateways: edge, internal" in (
        capsys.readouterr().err
    )


def test_every_telemetry_field_envoy_sees_is_explained() -> None:
    """Each field of the Telemetry model that reaches Envoy has a meaning; the target does not."""
    explained = {path[:2] for path in TELEMETRY_MEANINGS}
    for section, model in (("tracing", Tracing), ("access_log", AccessLog)):
        for name in model.model_fields:
            assert (section, name) in explained, f"{section}.{name} has no meaning in explain"


def test_each_field_is_explained_by_one_slice() -> None:
    slices = [
        outlier.EXPLAIN,
        admission.EXPLAIN,
        bulkhead.EXPLAIN,
        adaptive.EXPLAIN,
        retries.EXPLAIN,
        clusters.EXPLAIN,
        health.EXPLAIN,
        fallback.EXPLAIN,
        balancing.EXPLAIN,
        endpoints.EXPLAIN,
    ]
    assert sum(len(s) for s in slices) == len(MEANINGS)
    assert set(MEANINGS) == {path for s in slices for path in s}
    rule_slices = [
        faults.EXPLAIN,
        ratelimit.EXPLAIN,
        global_ratelimit.EXPLAIN,
        mirror.EXPLAIN,
        headers.EXPLAIN,
    ]
    assert sum(len(s) for s in rule_slices) == len(RULE_MEANINGS)
    assert set(RULE_MEANINGS) == {path for s in rule_slices for path in s}


def test_policy_fields_on_routes_are_explained_among_the_route_settings() -> None:
    """`explain` splits cluster from route settings by the Envoy field's `route.` prefix."""
    assert all(
        meaning.envoy.startswith("route.")
        for path, meaning in MEANINGS.items()
        if path[0] == "fallback"
    )


def test_a_field_explained_twice_or_not_in_the_model_is_refused() -> None:
    meaning = FieldMeaning("cluster.connect_timeout")
    with pytest.raises(ValueError, match="explained twice"):
        _collect({("timeout", "connect"): meaning}, {("timeout", "connect"): meaning})
    with pytest.raises(ValueError, match="does not have"):
        _collect({("timeout", "conect"): meaning})


def test_meanings_follow_the_model_order_not_the_slice_order() -> None:
    """The retry budget is written by `bulkhead`, yet it is read among the retry fields."""
    paths = list(MEANINGS)
    assert paths.index(("retry", "backoff", "max_interval")) + 1 == paths.index(
        ("retry", "budget", "percent")
    )
    assert paths.index(("timeout", "request")) + 1 == paths.index(("timeout", "connect"))


def test_a_gateway_with_tls_explains_its_certificate_files() -> None:
    """Each `tls` field, set by the Gateway, with the DownstreamTlsContext field it becomes."""
    policyset = load_case("gateway_tls")
    for gateway, chain in [("edge", "/etc/envoy/tls/edge.pem"), ("default.shop", None)]:
        sections = explain_gateway(policyset, gateway)
        assert sections[0].title == f"listener of gateway {gateway}"
        by_path = {s.path: s for s in sections[0].settings}
        assert list(by_path) == ["tls.certificateChain", "tls.privateKey"]
        assert by_path["tls.certificateChain"].set_by == f"Gateway/{gateway}"
        assert "certificate_chain.filename" in by_path["tls.certificateChain"].envoy
        assert "h2, http/1.1" in by_path["tls.certificateChain"].envoy
        assert "private_key.filename" in by_path["tls.privateKey"].envoy
        if chain is not None:
            assert by_path["tls.certificateChain"].value == chain
    assert all(
        not s.title.startswith("listener") for s in explain_gateway(load_case("fault"), "edge")
    )


def test_every_tls_and_limits_field_is_explained() -> None:
    limits = {("limits", name) for name in GatewayLimits.model_fields}
    assert set(LISTENER_MEANINGS) == {("tls", "certificate_chain"), ("tls", "private_key")} | limits


def test_a_gateway_with_limits_says_how_envoy_refuses_a_connection() -> None:
    sections = explain_gateway(load_case("limits"), "edge")
    by_path = {s.path: s for s in sections[0].settings}
    assert by_path["limits.maxConnections"].value == 1000
    assert by_path["limits.maxConnections"].set_by == "Gateway/edge"
    assert "connection_limit" in by_path["limits.maxConnections"].envoy
    assert "closes it at once" in by_path["limits.maxConnections"].differs


def test_hedging_and_local_origin_failures_say_where_envoy_differs() -> None:
    assert "only when an attempt's perTryTimeout fires" in MEANINGS[("retry", "hedge")].differs
    local = MEANINGS[("circuit_breaker", "local_origin_failures")]
    assert "split_external_local_origin_errors: true" in local.envoy
    assert "count only answers the host really sent" in local.differs


def test_adaptive_concurrency_says_it_answers_503_while_it_measures() -> None:
    meaning = MEANINGS[("bulkhead", "adaptive")]
    assert "while it measures the minimum round-trip time" in meaning.differs
    assert "refuses it on gRPC services" in meaning.differs
    settings = {
        s.path: s
        for section in explain_service(load_case("adaptive"), "payments")
        for s in section.settings
    }
    assert settings["bulkhead.adaptive.minLimit"].value == 5
    assert settings["bulkhead.adaptive.minLimit"].set_by == "ResiliencePolicy/payments-adaptive"
    assert "min_concurrency" in settings["bulkhead.adaptive.minLimit"].envoy


def test_a_rules_global_limit_and_its_routes_bucket_are_explained_apart() -> None:
    """The orders route's bucket still limits its rule that has only a global limit."""
    settings = explain_rule(load_case("global_limits"), "orders", 0)
    by_path = {s.path: s for s in settings}
    assert by_path["rateLimit.requests"].set_by == "HTTPRoute/orders"
    assert by_path["rateLimit.global.requests"].set_by == "HTTPRoute/orders rule 0"
    assert by_path["rateLimit.global.failureMode"].value == "closed"
    assert "not limited at all" in RULE_MEANINGS[("rate_limit", "global_", "by", "header")].differs
    gateway_wide = {s.path: s for s in explain_rule(load_case("global_limits"), "catalog", 0)}
    assert gateway_wide["rateLimit.global.requests"].set_by == "Gateway/edge"
