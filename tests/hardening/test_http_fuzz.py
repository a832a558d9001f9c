"""The admin API fuzzed from its own OpenAPI document: whatever is sent, never a 5xx it did not
document.

Schemathesis reads `/openapi.json` from the running server and generates
requests for every operation, valid and invalid (wrong types, missing and
extra fields, odd path segments, huge numbers). The only 5xx the document
allows is 503 on routes that describe it (no policy set loaded, or the store
cannot take the write); none may happen here, with a healthy store, so every
answer must be below 500. A handful of hand-written hostile bodies follow.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from tests.hardening.policies import hardening_policies
from tests.support.policies import ROUTE


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneThread]:
    workdir = tmp_path_factory.mktemp("http-fuzz")
    policies = hardening_policies(workdir / "policies", stable_port=1, canary_port=2)
    with ControlPlaneThread(policies.path, workdir / "state") as plane:
        yield plane


@pytest.fixture(scope="module")
def served_schema(running: ControlPlaneThread) -> Any:
    """The document the server itself serves at `/openapi.json`."""
    return schemathesis.openapi.from_url(f"{running.admin_url}/openapi.json")


# Drawn inside the test rather than through `schema.parametrize` / `from_fixture`, whose
# lazy loading touches a pytest internal that pytest 9 no longer has.
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,  # nothing written into the work tree
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("route", [None, ROUTE], ids=["any-route", "the-real-route"])
def test_no_request_makes_the_admin_api_fail(
    running: ControlPlaneThread,
    served_schema: Any,
    mode: GenerationMode,
    route: str | None,
    data: st.DataObject,
) -> None:
    fixed = {"route": route} if route is not None else None
    case = data.draw(served_schema.as_strategy(mode, path_parameters=fixed), label="case")
    response = case.call(base_url=running.admin_url, timeout=10)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
        f"{response.status_code} {response.text[:300]}"
    )
    content_type = response.headers.get("content-type", [""])[0]  # header -> list of values
    assert content_type.split(";")[0] in (
        "application/json",
        "text/plain",
    ), (case.method, case.formatted_path, case.query, response.status_code, response.headers)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'"weights"',
        b'{"weights": null}',
        b'{"weights": {"stable": 1e309}}',
        b'{"weights": {"stable": 99999999999999999999999999999, "canary": 1}}',
        b'{"weights": {"stable": -1, "canary": 101}}',
        b'{"weights": {"stable": 0, "canary": 0}}',
        b'{"weights": {"stable": 50, "canary": 50}, "rule": 99999999999999999999}',
        b'{"weights": {"stable": 50, "canary": 50}, "rule": -1}',
        b'{"weights": {"stable": 50, "canary": 50}, "expectedRevision": "x"}',
        b'{"weights": {"\\u0000": 1}}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"weights": ' * 10_000 + b"{}" + b"}" * 10_000,
        b"\xff\xfe\x00",
    ],
    ids=lambda body: body[:30].decode("latin-1"),
)
def test_hostile_bodies_are_answered_4xx(running: ControlPlaneThread, body: bytes) -> None:
    request = urllib.request.Request(
        f"{running.admin_url}/v1/routes/{ROUTE}/weights",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert 400 <= status < 500, status
    assert http("GET", f"{running.admin_url}/healthz").status == 200


def test_a_body_over_the_size_limit_is_413(running: ControlPlaneThread, tmp_path: Path) -> None:
    body = b'{"weights": {"stable": 50, "canary": 50}}' + b" " * (2 * 1024 * 1024)
    request = urllib.request.Request(
        f"{running.admin_url}/v1/routes/{ROUTE}/weights",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except ConnectionError:
        status = 413  # the server may close the connection while the body is still on its way
    assert status == 413
