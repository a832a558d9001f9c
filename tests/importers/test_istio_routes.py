"""VirtualService → HTTPRoute: each mapping, and each field that cannot be carried, with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.importers.istio import convert, left, route_of, rule_of, to_app, virtual_service

GUIDE = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: app-virtual-service
spec:
  http:
  - match:
    - headers:
        canary-user:
          exact: "true"
    route:
    - destination:
        host: app-service
        subset: canary
      weight: 100
  - route:
    - destination:
        host: app-service
        subset: stable
      weight: 90
    - destination:
        host: app-service
        subset: canary
      weight: 10
"""


def test_the_guides_canary_becomes_a_header_rule_and_a_90_10_split() -> None:
    result = convert(GUIDE)
    route = route_of(result)
    assert route["metadata"] == {"name": "app-virtual-service"}
    assert route["spec"]["gateways"] == ["edge"]
    assert route["spec"]["hostnames"] == ["*"]
    assert route["spec"]["rules"] == [
        {
            "matches": [{"headers": [{"name": "canary-user", "value": "true"}]}],
            "backends": [{"service": "app-service", "subset": "canary", "weight": 100}],
        },
        {
            "backends": [
                {"service": "app-service", "subset": "stable", "weight": 90},
                {"service": "app-service", "subset": "canary", "weight": 10},
            ]
        },
    ]
    assert result.leftovers == []
    (service,) = result.files["services.yaml"]
    assert service["spec"]["subsets"] == [
        {"name": "stable", "labels": {"version": "stable"}},
        {"name": "canary", "labels": {"version": "canary"}},
    ]
    assert service["spec"]["endpoints"][0]["port"] == 8001


def test_uri_method_authority_headers_and_query_parameters_become_matches() -> None:
    match = {
        "uri": {"prefix": "/api"},
        "method": {"exact": "POST"},
        "authority": {"exact": "shop.example.com"},
        "scheme": {"exact": "https"},
        "headers": {"x-user": {"exact": "7"}, "x-debug": {}},
        "queryParams": {"dryRun": {"exact": "1"}},
    }
    result = convert(
        virtual_service([{"match": [match, {"uri": {"exact": "/health"}}], "route": [to_app()]}])
    )
    assert rule_of(result)["matches"] == [
        {
            "path": {"prefix": "/api"},
            "headers": [
                {"name": ":method", "value": "POST"},
                {"name": ":authority", "value": "shop.example.com"},
                {"name": ":scheme", "value": "https"},
                {"name": "x-user", "value": "7"},
                {"name": "x-debug", "present": True},
            ],
            "queryParams": [{"name": "dryRun", "value": "1"}],
        },
        {"path": {"exact": "/health"}},
    ]
    assert result.leftovers == []


@pytest.mark.parametrize(
    ("match", "field", "reason"),
    [
        ({"uri": {"regex": "/v[0-9]+/.*"}}, "uri.regex", "no regex"),
        ({"headers": {"x-user": {"prefix": "vip-"}}}, "headers.x-user.prefix", "exact value"),
        ({"method": {"regex": "GET|HEAD"}}, "method.regex", "exact value"),
        ({"queryParams": {"q": {"regex": "a.*"}}}, "queryParams.q.regex", "exact value"),
        ({"uri": {"prefix": "/"}, "ignoreUriCase": True}, "ignoreUriCase", "case-sensitive"),
        ({"sourceLabels": {"app": "web"}}, "sourceLabels", "not sidecars"),
    ],
)
def test_a_match_that_cannot_be_carried_is_left_out_whole(
    match: dict[str, object], field: str, reason: str
) -> None:
    rule = {"match": [match, {"uri": {"prefix": "/kept"}}], "route": [to_app()]}
    result = convert(virtual_service([rule]))
    assert rule_of(result)["matches"] == [{"path": {"prefix": "/kept"}}]
    reasons = left(result)
    assert reason in reasons[f"spec.http[0].match[0].{field}"]
    assert "left out whole" in reasons["spec.http[0].match[0]"]


def test_a_rule_none_of_whose_matches_can_be_carried_is_left_out_rather_than_taking_everything() -> (
    None
):
    rules = [
        {"match": [{"uri": {"regex": "/v[0-9]+"}}], "route": [to_app("canary")]},
        {"route": [to_app("stable")]},
    ]
    result = convert(virtual_service(rules))
    assert route_of(result)["spec"]["rules"] == [
        {"backends": [{"service": "app-service", "subset": "stable"}]}
    ]
    assert "rule was left out" in left(result)["spec.http[0]"]


def test_retries_count_attempts_with_the_first_one_and_split_status_codes_from_conditions() -> None:
    retries = {"attempts": 2, "perTryTimeout": "500ms", "retryOn": "5xx,reset,503,504"}
    rule = rule_of(
        convert(virtual_service([{"route": [to_app()], "retries": retries, "timeout": "3s"}]))
    )
    assert rule["retry"] == {
        "attempts": 3,
        "perTryTimeout": "500ms",
        "retryOn": ["5xx", "reset", "retriable-status-codes"],
        "retriableStatusCodes": [503, 504],
    }
    assert rule["timeout"] == {"request": "3s"}


def test_retries_without_retry_on_get_istios_default_and_say_so() -> None:
    result = convert(virtual_service([{"route": [to_app()], "retries": {"attempts": 0}}]))
    retry = rule_of(result)["retry"]
    assert retry["attempts"] == 1
    assert retry["retryOn"] == [
        "connect-failure",
        "refused-stream",
        "unavailable",
        "cancelled",
        "retriable-status-codes",
    ]
    assert retry["retriableStatusCodes"] == [503]
    assert any("Istio's default" in str(note) for note in result.notes)


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        (
            {"retries": {"attempts": 2, "retryOn": "5xx,teapot"}},
            "spec.http[0].retries.retryOn",
            "'teapot'",
        ),
        (
            {"retries": {"attempts": 2, "retryRemoteLocalities": True}},
            "spec.http[0].retries.retryRemoteLocalities",
            "locality",
        ),
        ({"timeout": "0s"}, "spec.http[0].timeout", "turns the route's timeout off"),
        (
            {"fault": {"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 5}}}},
            "spec.http[0].fault.abort.grpcStatus",
            "HTTP statuses only",
        ),
        (
            {"rewrite": {"uriRegexRewrite": {"match": "^/a", "rewrite": "/b"}}},
            "spec.http[0].rewrite.uriRegexRewrite",
            "not by regex",
        ),
        (
            {"headers": {"request": {"set": {"host": "x"}}}},
            "spec.http[0].headers.request",
            "rewrite.host",
        ),
        ({"corsPolicy": {"allowOrigins": [{"exact": "*"}]}}, "spec.http[0].corsPolicy", "CORS"),
        (
            {"mirror": {"host": "app-service", "subset": "stable", "port": {"number": 9000}}},
            "spec.http[0].mirror.port",
            "endpoints carry their ports",
        ),
    ],
)
def test_route_fields_that_cannot_be_carried_are_listed_with_the_reason(
    rule: dict[str, object], field: str, reason: str
) -> None:
    result = convert(virtual_service([{"route": [to_app("canary")], **rule}]))
    assert reason in left(result)[field]
    assert result.errors == []
    route_of(result)  # the rest of the route is still carried


def test_faults_mirrors_and_header_changes_are_carried() -> None:
    rule = {
        "route": [to_app("stable")],
        "fault": {
            "delay": {"fixedDelay": "200ms", "percentage": {"value": 10}},
            "abort": {"httpStatus": 503, "percentage": {"value": 5.5}},
        },
        "mirror": {"host": "app-service", "subset": "canary"},
        "mirrorPercentage": {"value": 25},
        "headers": {
            "request": {
                "set": {"x-gateway": "edge"},
                "add": {"x-via": "breakwater"},
                "remove": ["x-debug"],
            },
            "response": {"remove": ["x-instance"]},
        },
    }
    result = convert(virtual_service([rule]))
    converted = rule_of(result)
    assert converted["fault"] == {
        "delay": {"duration": "200ms", "percent": 10},
        "abort": {"status": 503, "percent": 5.5},
    }
    assert converted["mirror"] == {"service": "app-service", "subset": "canary", "percent": 25}
    assert converted["requestHeaders"] == {
        "set": [{"name": "x-gateway", "value": "edge"}],
        "add": [{"name": "x-via", "value": "breakwater"}],
        "remove": ["x-debug"],
    }
    assert converted["responseHeaders"] == {"remove": ["x-instance"]}
    assert result.leftovers == []


def test_of_several_mirrors_the_first_is_kept_and_the_others_listed() -> None:
    mirrors = [
        {"destination": {"host": "app-service", "subset": "canary"}, "percentage": {"value": 50}},
        {"destination": {"host": "app-service", "subset": "stable"}},
    ]
    result = convert(virtual_service([{"route": [to_app()], "mirrors": mirrors}]))
    assert rule_of(result)["mirror"] == {
        "service": "app-service",
        "subset": "canary",
        "percent": 50,
    }
    assert "first of `mirrors` was kept" in left(result)["spec.http[0].mirrors[1]"]


def test_headers_of_the_only_destination_move_onto_the_rule_and_of_a_split_are_listed() -> None:
    only = to_app() | {"headers": {"response": {"set": {"x-side": "one"}}}}
    result = convert(virtual_service([{"route": [only]}]))
    assert rule_of(result)["responseHeaders"] == {"set": [{"name": "x-side", "value": "one"}]}
    split = [
        to_app("stable", 90) | {"headers": {"response": {"set": {"x-side": "s"}}}},
        to_app("canary", 10),
    ]
    result = convert(virtual_service([{"route": split}]))
    assert "not per backend" in left(result)["spec.http[0].route[0].headers"]


def test_a_uri_rewrite_replaces_the_matched_prefix_or_the_whole_exact_path() -> None:
    prefix = {
        "match": [{"uri": {"prefix": "/old"}}],
        "rewrite": {"uri": "/new", "authority": "backend.internal"},
        "route": [to_app()],
    }
    exact = {
        "match": [{"uri": {"exact": "/login"}}],
        "rewrite": {"uri": "/auth/login"},
        "route": [to_app()],
    }
    mixed = {
        "match": [{"uri": {"exact": "/a"}}, {"uri": {"prefix": "/b"}}],
        "rewrite": {"uri": "/c"},
        "route": [to_app()],
    }
    result = convert(virtual_service([prefix, exact, mixed]))
    assert rule_of(result, 0)["rewrite"] == {"path": {"prefix": "/new"}, "host": "backend.internal"}
    assert rule_of(result, 1)["rewrite"] == {"path": {"full": "/auth/login"}}
    assert "rewrite" not in rule_of(result, 2)
    assert "split the rule in two" in next(
        x.instead for x in result.leftovers if x.field == "spec.http[2].rewrite.uri"
    )


def test_a_redirect_keeps_istios_301_unless_told_and_lists_derive_port() -> None:
    redirect = {"uri": "/v2", "authority": "new.example.com", "scheme": "https", "port": 8443}
    rules: list[dict[str, Any]] = [
        {"match": [{"uri": {"exact": "/v1"}}], "redirect": redirect},
        {
            "match": [{"uri": {"prefix": "/x"}}],
            "redirect": {"redirectCode": 308, "derivePort": "FROM_REQUEST_PORT"},
        },
        {"route": [to_app()]},
    ]
    result = convert(virtual_service(rules))
    assert rule_of(result, 0)["redirect"] == {
        "statusCode": 301,
        "path": {"full": "/v2"},
        "host": "new.example.com",
        "port": 8443,
        "scheme": "https",
    }
    assert rule_of(result, 1)["redirect"] == {"statusCode": 308}
    assert "keeps the request's port" in left(result)["spec.http[1].redirect.derivePort"]


def test_gateways_and_hosts_become_the_routes_gateways_and_hostnames() -> None:
    text = virtual_service(
        [{"route": [to_app()]}],
        hosts=["shop.example.com"],
        gateways=["istio-system/public", "mesh"],
    )
    result = convert(text)
    route = route_of(result)
    assert route["spec"]["gateways"] == ["public"]
    assert route["spec"]["hostnames"] == ["shop.example.com"]
    assert "no sidecars" in left(result)["spec.gateways[1]"]
    (gateway,) = result.files["gateways.yaml"]
    assert gateway["metadata"]["name"] == "public"
    assert any("skeleton" in str(note) for note in result.notes)


def test_tcp_tls_and_an_unknown_field_are_listed_at_their_line() -> None:
    text = virtual_service(
        [{"route": [to_app()], "someFutureField": {"on": True}}],
        tcp=[{"route": []}],
        exportTo=["."],
    )
    result = convert(text)
    reasons = left(result)
    assert "HTTP only" in reasons["spec.tcp"]
    assert "namespaces" in reasons["spec.exportTo"]
    assert "does not know this field" in reasons["spec.http[0].someFutureField.on"]
    line = next(x.line for x in result.leftovers if x.field == "spec.http[0].someFutureField.on")
    assert text.splitlines()[line - 1].strip() == "'on': true"


def test_a_split_that_would_lose_a_destination_is_left_out_whole() -> None:
    split = [to_app("stable", 90), {"destination": {"host": "*.example.com"}, "weight": 10}]
    result = convert(virtual_service([{"route": split}, {"route": [to_app("stable")]}]))
    assert len(route_of(result)["spec"]["rules"]) == 1
    assert "would take its share" in left(result)["spec.http[0]"]
    assert "wildcards" in left(result)["spec.http[0].route[1].destination.host"]


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        ({"directResponse": {"status": 204}}, "spec.http[0].directResponse", "redirect"),
        ({"delegate": {"name": "other"}}, "spec.http[0].delegate", "not delegated"),
        (
            {"fault": {"delay": {"exponentialDelay": "1s", "percentage": {"value": 1}}}},
            "spec.http[0].fault.delay.exponentialDelay",
            "fixed delays only",
        ),
        (
            {"match": [{"uri": {"prefix": "/"}, "name": "all"}]},
            "spec.http[0].match[0].name",
            "names rules",
        ),
    ],
)
def test_more_route_fields_that_cannot_be_carried(
    rule: dict[str, Any], field: str, reason: str
) -> None:
    result = convert(virtual_service([{"route": [to_app()], **rule}]))
    assert reason in left(result)[field]


def test_metadata_namespace_and_bookkeeping_are_listed_and_labels_kept() -> None:
    text = virtual_service([{"route": [to_app()]}]).replace(
        "  name: app\n",
        "  name: app\n  namespace: shop\n  labels: {team: payments}\n  resourceVersion: '42'\n",
    )
    result = convert(text)
    assert route_of(result)["metadata"] == {"name": "app", "labels": {"team": "payments"}}
    reasons = left(result)
    assert "no namespace" in reasons["metadata.namespace"]
    assert "bookkeeping" in reasons["metadata.resourceVersion"]


def test_a_mirror_that_is_also_a_backend_is_listed_and_the_rule_kept() -> None:
    result = convert(
        virtual_service(
            [{"route": [to_app("stable")], "mirror": {"host": "app-service", "subset": "stable"}}]
        )
    )
    assert "mirror" not in rule_of(result)
    assert "twice" in left(result)["spec.http[0].mirror"]


ROUTE_SHAPES = [
    (
        {"fault": {"abort": {"percentage": {"value": 1}}}},
        "spec.http[0].fault.abort",
        "without `httpStatus`",
    ),
    (
        {"fault": {"delay": {"percentage": {"value": 1}}}},
        "spec.http[0].fault.delay",
        "without `fixedDelay`",
    ),
    (
        {"headers": {"request": {"append": {"x": "y"}}}},
        "spec.http[0].headers.request.append",
        "set, add and remove",
    ),
    ({"headers": {"upstream": {}}}, "spec.http[0].headers.upstream", "`request` and `response`"),
    (
        {"retries": {"attempts": 1, "backoff": "1s"}},
        "spec.http[0].retries.backoff",
        "does not know this retry field",
    ),
    (
        {"mirror": {"host": "*.example.com"}},
        "spec.http[0].mirror.host",
        "cannot name a Breakwater Service",
    ),
    ({"timeout": "soon"}, "spec.http[0].timeout", "is not a duration"),
    (
        {"route": [{"destination": {"host": "app-service", "subset": "Canary_1"}}]},
        "spec.http[0].route[0].destination.subset",
        "not a valid Breakwater name",
    ),
]


@pytest.mark.parametrize(
    ("rule", "field", "reason"), ROUTE_SHAPES, ids=[f for _, f, _ in ROUTE_SHAPES]
)
def test_route_shapes_that_cannot_be_carried(rule: dict[str, Any], field: str, reason: str) -> None:
    result = convert(
        virtual_service([{"route": [to_app("stable")], **rule}, {"route": [to_app()]}])
    )
    assert reason in left(result)[field], left(result)


def test_a_rule_with_nothing_to_route_to_is_left_out() -> None:
    result = convert(
        virtual_service([{"match": [{"uri": {"prefix": "/a"}}]}, {"route": [to_app()]}])
    )
    assert len(route_of(result)["spec"]["rules"]) == 1
    assert "neither routes nor redirects" in left(result)["spec.http[0]"]


def test_a_virtual_service_tls_section_and_a_bad_gateway_name_are_listed() -> None:
    text = virtual_service([{"route": [to_app()]}], tls=[{"match": []}], gateways=["ns/_"])
    result = convert(text)
    reasons = left(result)
    assert "not TLS passthrough" in reasons["spec.tls"]
    assert "cannot name a Breakwater Gateway" in reasons["spec.gateways[0]"]
    assert route_of(result)["spec"]["gateways"] == ["edge"]
