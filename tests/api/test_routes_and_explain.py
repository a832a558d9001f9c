"""What the console reads besides what the CLI already did: every route with its rules
(GET /v1/routes, ListRoutes), explain for a served service (GET /v1/services/{s}/explain,
ExplainService), whether writes need the token, and the console's own files."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest

from breakwater.client import http
from breakwater.console import CONSOLE_PREFIX
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.waiting import wait_until
from breakwater.translators.explain.service import explain_service
from breakwater.v1 import breakwater_pb2 as pb
from breakwater.v1 import breakwater_pb2_grpc as pb_grpc
from tests.support.admin import weights_url
from tests.support.policies import PolicyDir, load_policy_dir

TOKEN = "a-token-of-twenty-characters"
TIMEOUT = 10.0

POLICY = """\
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: payments-breaker}
spec:
  targetRef: {name: payments}
  circuitBreaker: {failureRateThreshold: 50, openDuration: 5s}
"""


def _file(url: str) -> tuple[int, dict[str, str], bytes]:
    """A console file as the browser gets it: status, lower-cased headers, bytes."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, headers, body = error.code, error.headers, error.read()
    return status, {k.lower(): v for k, v in headers.items()}, body


def test_routes_list_every_rule_with_the_weights_served_and_the_revision_to_name(
    plane: ControlPlaneThread,
) -> None:
    url = plane.admin_url
    [route] = http("GET", f"{url}/v1/routes").body["routes"]
    assert route["name"] == "payments" and route["gateways"] == ["edge"]
    [rule] = route["rules"]
    assert rule == {
        "index": 0,
        "name": "split",
        "backends": [
            {"label": "stable", "service": "payments", "subset": "stable", "weight": 90},
            {"label": "canary", "service": "payments", "subset": "canary", "weight": 10},
        ],
        "source": "yaml",
        "revision": 0,
        "rollout": None,
    }
    written = http("PUT", weights_url(url), {"weights": {"stable": 30, "canary": 70}}).body
    [rule] = http("GET", f"{url}/v1/routes").body["routes"][0]["rules"]
    assert [b["weight"] for b in rule["backends"]] == [30, 70]
    assert (rule["source"], rule["revision"]) == ("override", written["revision"])


def test_explain_of_the_served_set_is_the_offline_explain(
    plane: ControlPlaneThread, policies: PolicyDir
) -> None:
    policies.replace(policies.path / "policy.yaml", POLICY)
    url = plane.admin_url

    def sections() -> Any:
        answer = http("GET", f"{url}/v1/services/payments/explain").body
        return answer if answer["sections"][0]["settings"] else None

    answer = wait_until(sections, 10, "the policy to be served")
    policyset, _ = load_policy_dir(policies.path)
    assert policyset is not None
    offline = explain_service(policyset, "payments")
    assert answer["sections"] == [
        {"title": s.title, "settings": [vars(x) for x in s.settings]} for s in offline
    ]
    [threshold] = [
        s
        for s in answer["sections"][0]["settings"]
        if s["path"] == "circuitBreaker.failureRateThreshold"
    ]
    assert threshold["value"] == 50
    assert threshold["set_by"] == "ResiliencePolicy/payments-breaker"
    assert threshold["envoy"].startswith("cluster.outlier_detection.failure_percentage_threshold")
    missing = http("GET", f"{url}/v1/services/orders/explain")
    assert missing.status == 404
    assert missing.body["error"] == (
        "Service 'orders' is not declared; declared services: payments"
    )


def test_grpc_lists_routes_and_explains_like_http(plane: ControlPlaneThread) -> None:
    with grpc.insecure_channel(f"{LOOPBACK}:{plane.xds_port}") as channel:
        stub = pb_grpc.BreakwaterStub(channel)
        routes = stub.ListRoutes(pb.ListRoutesRequest(), timeout=TIMEOUT)
        [rule] = routes.routes[0].rules
        assert [(b.label, b.weight) for b in rule.backends] == [("stable", 90), ("canary", 10)]
        assert rule.name == "split" and not rule.HasField("rollout")
        explained = stub.ExplainService(
            pb.ExplainServiceRequest(service="payments"), timeout=TIMEOUT
        )
        http_answer = http("GET", f"{plane.admin_url}/v1/services/payments/explain").body
        assert [s.title for s in explained.sections] == [
            s["title"] for s in http_answer["sections"]
        ]
        with pytest.raises(grpc.RpcError) as raised:
            stub.ExplainService(pb.ExplainServiceRequest(service="orders"), timeout=TIMEOUT)
        error: Any = raised.value
        assert error.code() == grpc.StatusCode.NOT_FOUND


def test_status_says_whether_writes_need_the_token(
    plane: ControlPlaneThread, policies: PolicyDir, tmp_path: Path
) -> None:
    assert http("GET", f"{plane.admin_url}/v1/status").body["writes_need_token"] is False
    security = SecurityConfig(token=TOKEN)
    with ControlPlaneThread(policies.path, tmp_path / "other", security=security) as guarded:
        assert http("GET", f"{guarded.admin_url}/v1/status").body["writes_need_token"] is True


def test_the_console_is_served_without_a_token_and_its_data_is_not(
    policies: PolicyDir, tmp_path: Path
) -> None:
    security = SecurityConfig(token=TOKEN, protect_reads=True)
    with ControlPlaneThread(policies.path, tmp_path / "state", security=security) as plane:
        url = plane.admin_url
        status, headers, body = _file(f"{url}/")
        assert status == 200
        assert headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in headers["content-security-policy"]
        assert b'src="/console/app.js"' in body
        for asset, kind in (("app.js", "text/javascript"), ("console.css", "text/css")):
            status, headers, _ = _file(f"{url}{CONSOLE_PREFIX}{asset}")
            assert (status, headers["content-type"].split(";")[0]) == (200, kind), asset
            assert headers["x-content-type-options"] == "nosniff"
        assert _file(f"{url}{CONSOLE_PREFIX}..%2Fapi%2Fhttp.py")[0] == 404
        assert _file(f"{url}{CONSOLE_PREFIX}nothing.js")[0] == 404
        assert http("GET", f"{url}/v1/routes").status == 401
        assert http("GET", f"{url}/v1/services/payments/explain").status == 401
