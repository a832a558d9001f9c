"""Every answer of the admin port fits what its own `/openapi.json` says it is.

The document is generated from the models the answers are made of; this
reads it back from the running server and checks each answer, success or
refusal, against the schema the document gives for that path, method and
status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema_rs  # comes with schemathesis

from breakwater.client import Reply, http
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.waiting import wait_until
from breakwater.xds_types import ROUTE_TYPE
from tests.support.admin import weights_url
from tests.support.ads import BlockingAdsClient
from tests.support.policies import GATEWAY, PolicyDir

TOKEN = "a-token-of-twenty-characters"


def _check(document: dict[str, Any], path: str, method: str, reply: Reply) -> None:
    operation = document["paths"][path][method]
    response = operation["responses"].get(str(reply.status))
    assert response is not None, f"{method.upper()} {path} answered {reply.status}, undocumented"
    schema = response["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**schema, "components": document["components"]})
    errors = [str(e) for e in validator.iter_errors(reply.body)]
    assert not errors, (method, path, reply.status, errors[:3], reply.body)


def test_every_answer_fits_the_document(plane: ControlPlaneThread, policies: PolicyDir) -> None:
    url = plane.admin_url
    document = http("GET", f"{url}/openapi.json").body
    weights = "/v1/routes/{route}/weights"
    with BlockingAdsClient(plane.xds_port, "probe-1") as probe:
        probe.request(ROUTE_TYPE, [GATEWAY])
        probe.recv(10.0)
        for path in ("/healthz", "/readyz", "/v1/status", "/v1/policies", "/v1/routes"):
            _check(document, path, "get", http("GET", url + path))
        answers = [
            ("get", http("GET", weights_url(url))),
            ("get", http("GET", weights_url(url, "orders"))),
            ("get", http("GET", weights_url(url) + "?rule=x")),
            ("put", http("PUT", weights_url(url), {"weights": {"stable": 70, "canary": 30}})),
            (
                "put",
                http("PUT", weights_url(url), {"weights": {"stable": 1}, "expectedRevision": 0}),
            ),
            ("put", http("PUT", weights_url(url), {"weights": {"stable": 1, "canary": 1}})),
            ("delete", http("DELETE", weights_url(url) + "?expectedRevision=0")),
            ("put", http("PUT", weights_url(url), {"weights": {"stable": 1}, "rule": [0]})),
        ]
        statuses = [reply.status for _, reply in answers]
        assert statuses == [200, 404, 404, 200, 400, 200, 409, 400]
        for method, reply in answers:
            _check(document, weights, method, reply)
        explain = "/v1/services/{service}/explain"
        for service, status in (("payments", 200), ("orders", 404)):
            reply = http("GET", f"{url}/v1/services/{service}/explain")
            assert reply.status == status
            _check(document, explain, "get", reply)

        # A dropped override and a load error fill the rest of the status.
        policies.write_weights({"stable": 100})
        wait_until(
            lambda: http("GET", f"{url}/v1/status").body["dropped_overrides"], 10, "the drop"
        )
        policies.write_weights({"stable": -1})
        wait_until(lambda: http("GET", f"{url}/v1/status").body["load_errors"], 10, "the error")
        for path in ("/v1/status", "/v1/policies"):
            _check(document, path, "get", http("GET", url + path))


def test_refusals_without_a_token_and_before_policies_fit_the_document(
    policies: PolicyDir, tmp_path: Path
) -> None:
    policies.write_weights({"stable": -1})
    security = SecurityConfig(token=TOKEN, protect_reads=True)
    with ControlPlaneThread(policies.path, tmp_path / "state", security=security) as plane:
        url = plane.admin_url
        auth = {"Authorization": f"Bearer {TOKEN}"}
        document = http("GET", f"{url}/openapi.json", headers=auth).body
        not_ready = http("GET", f"{url}/readyz")
        assert not_ready.status == 503
        _check(document, "/readyz", "get", not_ready)
        _check(document, "/healthz", "get", http("GET", f"{url}/healthz"))
        refused = http("GET", f"{url}/v1/status")
        assert refused.status == 401
        _check(document, "/v1/status", "get", refused)
        unloaded = http("GET", weights_url(url), headers=auth)
        assert unloaded.status == 503
        _check(document, "/v1/routes/{route}/weights", "get", unloaded)
