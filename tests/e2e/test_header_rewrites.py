"""Header changes, rewrites and redirects through a real Envoy, with Gateway API semantics.

The upstream keeps each request as it arrived, so these tests read what the
proxy actually forwarded: the path after a rewrite, the host, the headers
set, added and removed.
"""

from __future__ import annotations

from breakwater.client import http
from tests.e2e.mesh import Mesh, service

ROUTES = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - matches: [{path: {prefix: /api/v1}}]
      backends: [{service: payments}]
      rewrite: {path: {prefix: /internal/}, host: payments.internal}
      requestHeaders:
        set: [{name: x-env, value: prod}, {name: x-discount, value: "10%"}]
        add: [{name: x-via, value: edge}]
        remove: [x-debug]
    - matches: [{path: {prefix: /strip}}]
      backends: [{service: payments}]
      rewrite: {path: {prefix: /}}
    - matches: [{path: {exact: /health-check}}]
      backends: [{service: payments}]
      rewrite: {path: {full: /status}}
    - matches: [{path: {prefix: /secure}}]
      redirect: {scheme: https}
    - matches: [{path: {prefix: /moved}}]
      redirect: {scheme: https, host: pay.example, path: {prefix: /v2}, statusCode: 301}
    - matches: [{path: {exact: /login}}]
      redirect: {path: {full: /account/login}, statusCode: 307}
    - backends: [{service: payments}]
      responseHeaders:
        set: [{name: cache-control, value: no-store}]
        add: [{name: x-served-by, value: edge}]
        remove: [x-instance]
"""


def start(mesh: Mesh) -> None:
    mesh.upstream("only", service="payments", response_headers={"cache-control": "max-age=60"})
    mesh.start(service("payments", "only") + ROUTES)


def test_the_upstream_sees_the_rewritten_path_host_and_headers(mesh: Mesh) -> None:
    start(mesh)
    only = mesh.upstreams["only"]

    reply = http(
        "GET",
        mesh.url + "/api/v1/orders?page=2",
        headers={"x-debug": "1", "x-via": "client", "x-env": "dev"},
    )
    assert reply.status == 200
    for path in ("/strip/refunds", "/strip", "/health-check?verbose=1"):
        assert http("GET", mesh.url + path).status == 200

    seen = only.seen()
    assert [r.path for r in seen] == [
        "/internal/orders?page=2",
        "/refunds",
        "/",
        "/status?verbose=1",
    ]
    first = seen[0].headers
    assert first["host"] == "payments.internal"
    assert first["x-env"] == "prod"
    assert first["x-discount"] == "10%"
    assert first["x-via"] == "client, edge"
    assert "x-debug" not in first
    assert first["x-envoy-original-path"] == "/api/v1/orders?page=2"


def test_redirects_answer_with_the_right_location_and_status(mesh: Mesh) -> None:
    start(mesh)
    origin = f"127.0.0.1:{mesh.gateway_port}"

    result = mesh.send(
        3,
        path=lambda i: ["/secure/pay?x=1", "/moved/pay", "/login?next=/home"][i],
        watch_headers=("location",),
    )

    answers = [(r.status, r.headers.get("location")) for r in result.records]
    assert answers == [
        # A scheme change goes to that scheme's port; with no host given, Envoy names it.
        (302, "https://127.0.0.1:443/secure/pay?x=1"),
        (301, "https://pay.example/v2/pay"),
        (307, f"http://{origin}/account/login?next=/home"),
    ]
    assert mesh.upstreams["only"].stats().requests == 0


def test_response_headers_are_set_added_and_removed(mesh: Mesh) -> None:
    start(mesh)

    result = mesh.send(
        5, path="/anything", watch_headers=("cache-control", "x-served-by", "x-instance")
    )

    assert result.ok == 5, result.summary()
    assert {tuple(sorted(r.headers.items())) for r in result.records} == {
        (("cache-control", "no-store"), ("x-served-by", "edge"))
    }
