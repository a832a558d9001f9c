"""The admin port's weights API, health, OpenAPI and policy status, against the real control plane.

No Envoy here: an ADS client stands in for a proxy where a test needs the
served config to exist.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from breakwater.client import http
from breakwater.console import is_console_path
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.prometheus import scrape
from breakwater.devtools.waiting import wait_until
from breakwater.xds_types import ROUTE_TYPE
from tests.support.admin import weights_url
from tests.support.ads import BlockingAdsClient, route_weights
from tests.support.policies import GATEWAY, PolicyDir

YAML_WEIGHTS = {"stable": 90, "canary": 10}


def _status(plane: ControlPlaneThread) -> dict[str, Any]:
    reply = http("GET", f"{plane.admin_url}/v1/status")
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.body
    return body


def _policies(plane: ControlPlaneThread) -> list[dict[str, Any]]:
    reply = http("GET", f"{plane.admin_url}/v1/policies")
    assert reply.status == 200, reply.text
    documents: list[dict[str, Any]] = reply.body["policies"]
    return documents


def _stored_overrides(state_dir: Path) -> list[tuple[str, int, str, int]]:
    """What the state file holds, read directly (read-only) rather than through the server."""
    uri = f"file:{state_dir / 'breakwater.sqlite3'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        rows = db.execute("SELECT route, rule, weights, revision FROM weights").fetchall()
    return [(str(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in rows]


# --- reading and writing weights ---------------------------------------------------


def test_get_weights_comes_from_the_yaml(plane: ControlPlaneThread) -> None:
    reply = http("GET", weights_url(plane.admin_url))
    assert reply.status == 200, reply.text
    assert reply.body == {
        "route": "payments",
        "rule": 0,
        "weights": YAML_WEIGHTS,
        "source": "yaml",
        "revision": 0,
        "rule_name": "split",
    }
    assert http("GET", weights_url(plane.admin_url) + "?rule=0").body == reply.body


def test_put_makes_a_durable_override_with_a_revision(
    plane: ControlPlaneThread, state_dir: Path
) -> None:
    before = _status(plane)["state_revision"]
    reply = http("PUT", weights_url(plane.admin_url), {"weights": {"stable": 75, "canary": 25}})
    assert reply.status == 200, reply.text
    assert reply.body["source"] == "override"
    assert reply.body["weights"] == {"stable": 75, "canary": 25}
    revision = reply.body["revision"]
    assert revision == before + 1

    assert http("GET", weights_url(plane.admin_url)).body == reply.body
    assert _status(plane)["state_revision"] == revision
    # Answered means written: the row is in the file already.
    assert _stored_overrides(state_dir) == [
        ("payments", 0, '{"canary": 25, "stable": 75}', revision)
    ]
    url = plane.admin_url
    assert scrape(url, "breakwater_route_backend_weight", backend="canary", source="override") == 25
    assert scrape(url, "breakwater_state_revision") == revision


def test_a_stale_expected_revision_is_409_with_the_current_one(plane: ControlPlaneThread) -> None:
    url = weights_url(plane.admin_url)
    first = http("PUT", url, {"weights": {"stable": 80, "canary": 20}, "expectedRevision": 0})
    assert first.status == 200, first.text
    current = first.body["revision"]

    stale = http("PUT", url, {"weights": {"stable": 10, "canary": 90}, "expectedRevision": 0})
    assert stale.status == 409, stale.text
    assert stale.body["current_revision"] == current
    assert f"revision {current}, not 0" in stale.body["error"]
    # The refused write changed nothing.
    assert http("GET", url).body == first.body

    second = http(
        "PUT", url, {"weights": {"stable": 10, "canary": 90}, "expectedRevision": current}
    )
    assert second.status == 200, second.text
    assert second.body["revision"] > current
    assert second.body["weights"] == {"stable": 10, "canary": 90}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(
            {"weights": {"stable": 75, "blue": 25}},
            ["no backend 'blue'", "its backends: stable, canary"],
            id="unknown-backend",
        ),
        pytest.param(
            {"weights": {"stable": 100}},
            ["missing canary", "its backends: stable, canary"],
            id="missing-backend",
        ),
        pytest.param(
            {"weights": {"stable": -1, "canary": 101}},
            ["weight of 'stable' is -1", "0 or more"],
            id="negative",
        ),
        pytest.param(
            {"weights": {"stable": 0, "canary": 0}},
            ["add up to 0"],
            id="zero-sum",
        ),
        pytest.param(
            {"weights": {"stable": 1.5, "canary": 1}},
            ["whole number"],
            id="fraction",
        ),
        pytest.param(
            {"weights": {"stable": 50, "canary": 50}, "expectedRevison": 0},
            ["unknown field(s) expectedRevison"],
            id="misspelt-field",
        ),
        pytest.param({"weights": [50, 50]}, ["JSON object"], id="weights-not-a-map"),
        pytest.param([1, 2], ["JSON object"], id="body-not-an-object"),
    ],
)
def test_bad_weights_are_400_and_change_nothing(
    plane: ControlPlaneThread, body: Any, words: list[str]
) -> None:
    url = weights_url(plane.admin_url)
    reply = http("PUT", url, body)
    assert reply.status == 400, reply.text
    for word in words:
        assert word in reply.body["error"]
    assert http("GET", url).body["source"] == "yaml"
    assert _status(plane)["state_revision"] == 0


def test_a_body_that_is_not_json_is_400(plane: ControlPlaneThread) -> None:
    reply = http("PUT", weights_url(plane.admin_url), raw=b"stable=75 canary=25")
    assert reply.status == 400, reply.text
    assert "must be JSON" in reply.body["error"]


def test_unknown_route_or_rule_is_404(plane: ControlPlaneThread) -> None:
    unknown = weights_url(plane.admin_url, "orders")
    for method, body in (("GET", None), ("PUT", {"weights": {"stable": 1}}), ("DELETE", None)):
        reply = http(method, unknown, body)
        assert reply.status == 404, (method, reply.text)
        assert reply.body["error"] == (
            "HTTPRoute 'orders' is not declared; declared routes: payments"
        )
    reply = http("GET", weights_url(plane.admin_url) + "?rule=3")
    assert reply.status == 404, reply.text
    assert "rule 3 does not exist" in reply.body["error"]


def test_delete_goes_back_to_the_yaml(plane: ControlPlaneThread, state_dir: Path) -> None:
    url = weights_url(plane.admin_url)
    written = http("PUT", url, {"weights": {"stable": 50, "canary": 50}})
    assert written.status == 200, written.text
    revision = written.body["revision"]

    stale = http("DELETE", f"{url}?expectedRevision={revision - 1}")
    assert stale.status == 409, stale.text
    assert stale.body["current_revision"] == revision

    reset = http("DELETE", f"{url}?expectedRevision={revision}")
    assert reset.status == 200, reset.text
    assert reset.body == {
        "route": "payments",
        "rule": 0,
        "weights": YAML_WEIGHTS,
        "source": "yaml",
        "revision": 0,
        "rule_name": "split",
    }
    assert http("GET", url).body == reset.body
    assert _status(plane)["state_revision"] == revision + 1
    assert _stored_overrides(state_dir) == []


# --- health, OpenAPI, policies -----------------------------------------------------------


def test_health_and_readiness(plane: ControlPlaneThread) -> None:
    alive = http("GET", f"{plane.admin_url}/healthz")
    assert alive.status == 200
    assert alive.body["status"] == "ok"
    ready = http("GET", f"{plane.admin_url}/readyz")
    assert ready.status == 200
    assert ready.body["status"] == "ready"


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def _check_refs(document: dict[str, Any], node: Any) -> int:
    """Every `$ref` in the document resolves; returns how many there are."""
    count = 0
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                _resolve(document, value)
                count += 1
            else:
                count += _check_refs(document, value)
    elif isinstance(node, list):
        for item in node:
            count += _check_refs(document, item)
    return count


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_openapi_is_a_3_1_document_listing_every_path(plane: ControlPlaneThread) -> None:
    reply = http("GET", f"{plane.admin_url}/openapi.json")
    assert reply.status == 200, reply.text
    document = reply.body
    assert isinstance(document, dict)
    assert document["openapi"].startswith("3.1.")
    assert isinstance(document["info"]["title"], str) and document["info"]["title"]
    assert isinstance(document["info"]["version"], str) and document["info"]["version"]

    paths: dict[str, Any] = document["paths"]
    for path, item in paths.items():
        assert path.startswith("/"), path
        templated = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert item and set(item) <= HTTP_METHODS, (path, sorted(item))
        for method, operation in item.items():
            responses = operation["responses"]
            assert responses, (path, method)
            for code, response in responses.items():
                assert code == "default" or (code.isdigit() and len(code) == 3), code
                assert isinstance(response.get("description"), str), (path, method, code)
            parameters = operation.get("parameters", [])
            for parameter in parameters:
                assert parameter["in"] in {"path", "query", "header", "cookie"}, parameter
                assert "schema" in parameter, parameter
                if parameter["in"] == "path":
                    assert parameter["required"] is True, parameter
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == templated, (path, method, declared)
            if "requestBody" in operation:
                assert operation["requestBody"]["content"], (path, method)
    assert _check_refs(document, document) > 0

    # What the admin port routes, method by method, is what the document lists.
    assert plane.plane is not None
    served: set[tuple[str, str]] = set()
    for route in plane.plane.admin.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        pattern = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and pattern is not None:
            served.add((pattern, route.method.lower()))
    documented = {(path, method) for path, item in paths.items() for method in item}
    for pattern, method in sorted(served):
        if pattern == "/openapi.json":
            continue  # checked on its own below
        if is_console_path(pattern):
            continue  # the console's page and files: not the API, read by a browser
        assert (pattern, method) in documented, f"{method.upper()} {pattern} is not documented"
    assert documented <= served, documented - served
    assert {
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/status",
        "/v1/policies",
        "/v1/routes/{route}/weights",
    } <= set(paths)
    assert set(paths["/v1/routes/{route}/weights"]) == {"get", "put", "delete"}
    put = paths["/v1/routes/{route}/weights"]["put"]
    assert {"200", "400", "404", "409", "503"} <= set(put["responses"])


def test_openapi_lists_its_own_path(plane: ControlPlaneThread) -> None:
    assert "/openapi.json" in http("GET", f"{plane.admin_url}/openapi.json").body["paths"]


def test_policies_lists_every_document_as_valid(
    plane: ControlPlaneThread, policies: PolicyDir
) -> None:
    documents = _policies(plane)
    assert {(d["kind"], d["name"]) for d in documents} == {
        ("Service", "payments"),
        ("Gateway", "edge"),
        ("HTTPRoute", "payments"),
    }
    for document in documents:
        assert document["valid"] is True, document
        assert document["errors"] == []
        assert Path(document["file"]).parent == policies.path
        assert document["line"] == 1
        assert document["services"] == ["payments"]
    url = plane.admin_url
    assert scrape(url, "breakwater_policy_documents", state="valid") == 3
    assert scrape(url, "breakwater_policy_documents", state="invalid") == 0


# --- policy files changing under the server ----------------------------------------------


def test_an_invalid_edit_is_reported_and_changes_nothing_served(
    plane: ControlPlaneThread, policies: PolicyDir
) -> None:
    url = plane.admin_url
    with BlockingAdsClient(plane.xds_port, "probe") as probe:
        probe.request(ROUTE_TYPE, [GATEWAY])
        routes = probe.recv(10.0)
        assert route_weights(routes) == {"payments|stable": 90, "payments|canary": 10}
        probe.ack(routes, [GATEWAY])
        before = _status(plane)
        errors_before = scrape(url, "breakwater_policy_load_errors_total")
        assert before["config_version"] and before["load_errors"] == []

        # Line 13 of routes.yaml is the canary backend.
        policies.write_weights({"stable": 90, "canary": -50})

        def invalid_route() -> dict[str, Any] | None:
            for document in _policies(plane):
                if document["kind"] == "HTTPRoute" and not document["valid"]:
                    return document
            return None

        document = wait_until(invalid_route, 10, "/v1/policies to show the route invalid")
        [error] = document["errors"]
        assert error.startswith(f"{policies.routes_file}:13: HTTPRoute/payments: ")
        assert "spec.rules[0].backends[1].weight" in error
        others = [d for d in _policies(plane) if d["kind"] != "HTTPRoute"]
        assert others and all(d["valid"] for d in others)

        after = _status(plane)
        assert after["load_errors"] == [error]
        assert scrape(url, "breakwater_policy_load_errors_total") == errors_before + 1
        assert scrape(url, "breakwater_policy_load_failing") == 1
        assert scrape(url, "breakwater_policy_documents", state="invalid") == 1

        # The last good config keeps serving: same versions, same weights, nothing pushed.
        assert after["config_version"] == before["config_version"]
        assert after["policy_version"] == before["policy_version"]
        assert http("GET", weights_url(url)).body["weights"] == YAML_WEIGHTS
        assert scrape(url, "breakwater_route_backend_weight", backend="canary", source="yaml") == 10
        assert probe.pending() == 0
        assert http("GET", f"{url}/readyz").status == 200

        # Fixing the file is taken at once, and only then does the proxy get a push.
        policies.write_weights({"stable": 80, "canary": 20})
        pushed = probe.recv(10.0)
        assert pushed.version_info != routes.version_info
        assert route_weights(pushed) == {"payments|stable": 80, "payments|canary": 20}
        wait_until(lambda: _status(plane)["load_errors"] == [], 10, "load errors to clear")
        assert scrape(url, "breakwater_policy_load_errors_total") == errors_before + 1
        assert scrape(url, "breakwater_policy_load_failing") == 0


def test_an_override_whose_backend_left_the_yaml_is_dropped(
    plane: ControlPlaneThread, policies: PolicyDir, state_dir: Path
) -> None:
    url = plane.admin_url
    written = http("PUT", weights_url(url), {"weights": {"stable": 70, "canary": 30}})
    assert written.status == 200, written.text
    revision = written.body["revision"]

    policies.write_weights({"stable": 100})
    dropped = wait_until(
        lambda: _status(plane)["dropped_overrides"], 10, "status to list the dropped override"
    )
    assert dropped == [
        {
            "route": "payments",
            "rule": 0,
            "weights": {"stable": 70, "canary": 30},
            "reason": "HTTPRoute 'payments' rule 0 has no backend 'canary'; its backends: stable",
        }
    ]
    reply = http("GET", weights_url(url) + "?rule=0")
    assert reply.body == {
        "route": "payments",
        "rule": 0,
        "weights": {"stable": 100},
        "source": "yaml",
        "revision": 0,
        "rule_name": "split",
    }
    # Gone from the store too (a new revision records the removal): the drop is served
    # and reported first, and the store write follows it ...
    wait_until(lambda: _status(plane)["state_revision"] == revision + 1, 10, "the removal stored")
    assert _stored_overrides(state_dir) == []
    assert scrape(url, "breakwater_dropped_overrides_total") == 1
    assert scrape(url, "breakwater_dropped_overrides_reported") == 1
    assert scrape(url, "breakwater_route_backend_weight", backend="stable", source="yaml") == 100

    # ... so a restart does not bring it back.
    plane.stop()
    with ControlPlaneThread(policies.path, state_dir) as again:
        assert http("GET", weights_url(again.admin_url) + "?rule=0").body == reply.body


def test_not_ready_until_a_valid_policy_set_loads(policies: PolicyDir, state_dir: Path) -> None:
    policies.write_weights({"stable": -1})
    with ControlPlaneThread(policies.path, state_dir) as plane:
        ready = http("GET", f"{plane.admin_url}/readyz")
        assert ready.status == 503, ready.text
        assert "no valid policy set" in ready.body["reason"]
        assert http("GET", f"{plane.admin_url}/healthz").status == 200
        for method, body in (("GET", None), ("PUT", {"weights": {"stable": 1, "canary": 1}})):
            reply = http(method, weights_url(plane.admin_url), body)
            assert reply.status == 503, (method, reply.text)
            assert "no valid policy set is loaded yet" in reply.body["error"]

        policies.write()
        wait_until(lambda: http("GET", f"{plane.admin_url}/readyz").status == 200, 10, "readiness")
        assert http("GET", weights_url(plane.admin_url)).body["weights"] == YAML_WEIGHTS
