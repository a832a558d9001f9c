"""The small decisions inside the route toolbox's translators, each pinned by name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from envoy.type.v3 import percent_pb2

from breakwater.translators.envoy.headers import literal, prefix_replacement, redirect_action
from breakwater.translators.envoy.percentages import fractional_percent
from breakwater.translators.envoy.ratelimit import effective_rate_limits, retry_after_seconds
from breakwater.translators.ir.upstreams import backends_of
from breakwater.translators.traffic_model import PathModifier, RateLimit, Redirect
from tests.translators.support import policyset_from_text

SERVICES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  endpoints: [{address: 10.0.0.1, port: 8080}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: shadow}
spec:
  endpoints: [{address: 10.0.0.2, port: 8080}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec:
  port: 10000
  rateLimit: {requests: 1000, per: 1s}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: quiet}
spec: {port: 10001}
---
"""


@pytest.mark.parametrize(
    ("percent", "numerator", "denominator"),
    [
        (10, 10, percent_pb2.FractionalPercent.HUNDRED),
        (100, 100, percent_pb2.FractionalPercent.HUNDRED),
        (0.5, 5_000, percent_pb2.FractionalPercent.MILLION),
        (33.3333, 333_333, percent_pb2.FractionalPercent.MILLION),
    ],
)
def test_percentages_are_whole_hundredths_or_millionths(
    percent: float, numerator: int, denominator: int
) -> None:
    fraction = fractional_percent(percent)
    assert (fraction.numerator, fraction.denominator) == (numerator, denominator)


@pytest.mark.parametrize(
    ("matched", "replacement", "prefix", "regex"),
    [
        ("/old", "/new", "/new", None),
        ("/old/", "/new", "/new/", None),
        ("/old", "/new/", "/new", None),
        ("/old/", "/new/", "/new/", None),
        ("/old", "/", None, "^/old/*"),
        ("/old/", "/", None, "^/old/*"),
    ],
)
def test_a_prefix_replacement_keeps_one_slash_at_the_seam(
    matched: str, replacement: str, prefix: str | None, regex: str | None
) -> None:
    new_prefix, rewrite = prefix_replacement(matched, replacement)
    assert new_prefix == prefix
    assert (rewrite.pattern.regex if rewrite is not None else None) == regex
    if rewrite is not None:
        assert rewrite.substitution == "/"


@pytest.mark.parametrize(
    ("redirect", "port"),
    [
        (Redirect(scheme="https"), 443),
        (Redirect(scheme="http"), 80),
        (Redirect(scheme="https", host="pay.example"), 0),
        (Redirect(scheme="https", host="pay.example", port=443), 0),
        (Redirect(scheme="https", host="pay.example", port=8443), 8443),
        (Redirect(scheme="https", port=443), 443),
        (Redirect(port=8080), 8080),
        (Redirect(host="pay.example"), 0),
    ],
)
def test_a_redirect_that_changes_scheme_goes_to_that_schemes_port(
    redirect: Redirect, port: int
) -> None:
    """0 is "no port_redirect": the request's port stays, or none is written with a new host."""
    assert redirect_action(redirect, "/").port_redirect == port


def test_a_redirect_is_found_302_unless_told() -> None:
    assert redirect_action(Redirect(host="a.example"), "/").response_code == 1  # FOUND
    moved = redirect_action(Redirect(host="a.example", status_code=301), "/")
    assert moved.response_code == 0  # MOVED_PERMANENTLY
    full = redirect_action(Redirect(path=PathModifier(full="/x")), "/old")
    assert full.path_redirect == "/x"


def test_header_values_are_sent_literally() -> None:
    assert literal("10% off, 100%%") == "10%% off, 100%%%%"


@pytest.mark.parametrize(
    ("requests", "per", "seconds"),
    [(10, timedelta(seconds=1), 1), (10, timedelta(minutes=1), 6), (1, timedelta(hours=1), 3600)],
)
def test_retry_after_is_the_time_one_token_takes(
    requests: int, per: timedelta, seconds: int
) -> None:
    assert retry_after_seconds(RateLimit(requests=requests, per=per)) == seconds


def test_the_most_specific_rate_limit_wins_and_gateways_each_count() -> None:
    policyset = policyset_from_text(
        SERVICES
        + """\
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: limited}
spec:
  gateways: [edge, quiet]
  hostnames: [limited.example]
  rateLimit: {requests: 100, per: 1s}
  rules:
    - matches: [{path: {prefix: /a}}]
      backends: [{service: payments}]
      rateLimit: {requests: 10, per: 1s}
    - backends: [{service: payments}]
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: open}
spec:
  gateways: [edge, quiet]
  hostnames: [open.example]
  rules:
    - backends: [{service: payments}]
"""
    )
    limited, open_route = policyset.routes["limited"], policyset.routes["open"]
    gateways = policyset.gateways
    assert [
        (who, limit.requests) for who, limit in effective_rate_limits(gateways, limited, 0)
    ] == [("HTTPRoute/limited rule 0", 10)]
    assert [w for w, _ in effective_rate_limits(gateways, limited, 1)] == ["HTTPRoute/limited"]
    assert [w for w, _ in effective_rate_limits(gateways, open_route, 0)] == ["Gateway/edge"]


def test_a_mirror_is_a_target_its_proxies_need_a_cluster_for() -> None:
    policyset = policyset_from_text(
        SERVICES
        + """\
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: payments}]
      mirror: {service: shadow, percent: 50}
"""
    )
    assert backends_of([policyset.routes["payments"]]) == [("payments", None), ("shadow", None)]
