"""The Gateway API conformance suite's HTTPRoute cases, through one real Envoy.

Each case is one request of a suite test (kubernetes-sigs/gateway-api,
`conformance/tests/httproute-*.go`) and what the suite expects of it: which
backend answers, the status, the path, Host and headers the backend saw, the
response headers, the redirect's location. The routes are the suite's
manifests, written as Breakwater reads them (`gateway_api_conformance_routes`),
served over ADS by the real control plane from a policy directory. The
upstreams echo what they saw (`UpstreamServer.seen`), so every expectation
is checked on what Envoy actually forwarded.

Cases the suite has and this file does not: see the README's Gateway API
section (HTTPS listeners, Service types, 500 for unresolved backends…).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from breakwater.cli.tables import format_policies
from breakwater.devtools.ports import LOOPBACK
from tests.e2e.gateway_api_conformance_routes import GATEWAY, LISTENER, ROUTES
from tests.e2e.mesh import Mesh, service
from tests.support.http import Exchange, exchange

BACKENDS = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3")
DELAY_HEADER = "x-conformance-delay"
"""Requests carrying it (each with its own value) are held 1 s by backend v1: the suite's
`?delay=1s`."""
BACKEND_DELAY = 1.0


@dataclass(frozen=True)
class Case:
    """One request of a suite test and what must come of it."""

    test: str
    host: str
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    backend: str | None = None
    """The backend that must answer; None when the gateway answers itself."""
    status: int = 200
    seen_path: str | None = None
    """The path (with query) the backend must see; the request's when None."""
    seen_host: str | None = None
    seen_headers: dict[str, str] = field(default_factory=dict)
    absent_headers: tuple[str, ...] = ()
    backend_sets: dict[str, str] = field(default_factory=dict)
    """Response headers the backend answers with (the suite's BackendSetResponseHeaders)."""
    response_headers: dict[str, str] = field(default_factory=dict)
    absent_response_headers: tuple[str, ...] = ()
    location: tuple[str, str, int, str] | None = None
    """A redirect's (scheme, host, port, path), the port spelled out even when implied."""
    mirrored_to: str | None = None
    fail_first: int = 0
    """Backend v3 fails this many attempts with `fail_status` before it answers 200."""
    fail_status: int = 500
    attempts: int | None = None
    """How many requests backend v3 must have seen (tries and retries)."""
    delayed: bool = False

    @property
    def id(self) -> str:
        return f"{self.test}:{self.method}:{self.host}{self.path}" + (
            f"+{','.join(f'{k}={v}' for k, v in self.headers.items())}" if self.headers else ""
        )


def _matching() -> list[Case]:
    h = "matching.conformance"
    v1, v2 = BACKENDS[:2]
    return [
        Case("HTTPRouteMatching", h, "/", backend=v1),
        Case("HTTPRouteMatching", h, "/example", backend=v1),
        Case("HTTPRouteMatching", h, "/", headers={"Version": "one"}, backend=v1),
        Case("HTTPRouteMatching", h, "/v2", backend=v2),
        Case("HTTPRouteMatching", h, "/v2/example", backend=v2),
        Case("HTTPRouteMatching", h, "/", headers={"Version": "two"}, backend=v2),
        Case("HTTPRouteMatching", h, "/v2/", backend=v2),
        Case("HTTPRouteMatching", h, "/v2example", backend=v1),
        Case("HTTPRouteMatching", h, "/foo/v2/example", backend=v1),
    ]


def _exact() -> list[Case]:
    h = "exact.conformance"
    t = "HTTPRouteExactPathMatching"
    return [
        Case(t, h, "/one", backend=BACKENDS[0]),
        Case(t, h, "/two", backend=BACKENDS[1]),
        *(Case(t, h, path, status=404) for path in ("/", "/one/example", "/two/", "/Two")),
    ]


def _headers() -> list[Case]:
    h = "headers.conformance"
    t = "HTTPRouteHeaderMatching"
    v1, v2, v3 = BACKENDS
    return [
        Case(t, h, "/", headers={"Version": "one"}, backend=v1),
        Case(t, h, "/", headers={"Version": "two"}, backend=v2),
        Case(t, h, "/", headers={"Version": "two", "Color": "orange"}, backend=v1),
        Case(t, h, "/", headers={"Version": "two", "Color": "blue"}, backend=v2),
        Case(t, h, "/", headers={"Color": "orange"}, status=404),
        Case(t, h, "/", headers={"Some-Other-Header": "one"}, status=404),
        Case(t, h, "/", headers={"Color": "blue"}, backend=v1),
        Case(t, h, "/", headers={"Color": "green"}, backend=v1),
        Case(t, h, "/", headers={"Color": "red"}, backend=v2),
        Case(t, h, "/", headers={"Color": "yellow"}, backend=v2),
        Case(t, h, "/", headers={"Color": "purple"}, status=404),
        # RegularExpression header matches (Extended): the whole value must match.
        Case(t, h, "/", headers={"X-Build": "v12.beta"}, backend=v3),
        Case(t, h, "/", headers={"X-Build": "v12.beta2"}, status=404),
    ]


def _query() -> list[Case]:
    h = "query.conformance"
    t = "HTTPRouteQueryParamMatching"
    v1, v2, v3 = BACKENDS
    return [
        Case(t, h, "/?animal=whale", backend=v1),
        Case(t, h, "/?animal=dolphin", backend=v2),
        Case(t, h, "/?animal=dolphin&color=blue", backend=v3),
        Case(t, h, "/?ANIMAL=Whale", backend=v3),
        Case(t, h, "/?animal=whale&otherparam=irrelevant", backend=v1),
        Case(t, h, "/?animal=dolphin&color=yellow", backend=v2),
        *(
            Case(t, h, path, status=404)
            for path in ("/?color=blue", "/?animal=dog", "/?animal=whaledolphin", "/")
        ),
        Case(t, h, "/path1?animal=whale", backend=v1),
        Case(t, h, "/?animal=whale", headers={"version": "one"}, backend=v2),
        Case(t, h, "/path2?animal=whale", headers={"version": "two"}, backend=v3),
        Case(t, h, "/path3?animal=shark", backend=v1),
        Case(t, h, "/path4?animal=kraken", headers={"version": "three"}, backend=v1),
        Case(t, h, "/?animal=shark", status=404),
        Case(t, h, "/path4?animal=kraken", status=404),
        Case(t, h, "/path5?animal=hydra", backend=v1),
        Case(t, h, "/?animal=hydra", headers={"version": "four"}, backend=v3),
    ]


def _method() -> list[Case]:
    h = "method.conformance"
    t = "HTTPRouteMethodMatching"
    v1, v2, v3 = BACKENDS
    return [
        Case(t, h, "/", method="POST", backend=v1),
        Case(t, h, "/", method="GET", backend=v2),
        Case(t, h, "/", method="HEAD", status=404),
        Case(t, h, "/path1", method="GET", backend=v1),
        Case(t, h, "/", method="PUT", headers={"version": "one"}, backend=v2),
        Case(t, h, "/path2", method="POST", headers={"version": "two"}, backend=v3),
        Case(t, h, "/path3", method="PATCH", backend=v1),
        Case(t, h, "/path4", method="DELETE", headers={"version": "three"}, backend=v1),
        Case(t, h, "/", method="PUT", status=404),
        Case(t, h, "/path4", method="DELETE", status=404),
        Case(t, h, "/path5", method="PATCH", backend=v1),
        Case(t, h, "/", method="PATCH", headers={"version": "four"}, backend=v2),
    ]


def _order() -> list[Case]:
    h = "order.conformance"
    t = "HTTPRoutePathMatchOrder"
    v1, v2, v3 = BACKENDS
    return [
        Case(t, h, "/match/exact/one", backend=v3),
        Case(t, h, "/match/exact", backend=v2),
        Case(t, h, "/match", backend=v1),
        Case(t, h, "/match/prefix/one/any", backend=v2),
        Case(t, h, "/match/prefix/any", backend=v1),
        Case(t, h, "/match/any", backend=v3),
        # RegularExpression paths (Extended): the whole path must match.
        Case(t, h, "/regex/42", backend=v2),
        Case(t, h, "/regex/42/more", status=404),
    ]


def _across_routes() -> list[Case]:
    t = "HTTPRouteMatchingAcrossRoutes"
    v1, v2 = BACKENDS[:2]
    return [
        Case(t, "example.com", "/", backend=v1),
        Case(t, "example.com", "/example", backend=v1),
        Case(t, "example.net", "/example", backend=v1),
        Case(t, "example.com", "/example", headers={"Version": "one"}, backend=v1),
        Case(t, "example.com", "/v2", backend=v2),
        Case(t, "example.net", "/v2", backend=v1),
        Case(t, "example.com", "/v2/example", backend=v2),
        Case(t, "example.com", "/", headers={"Version": "two"}, backend=v2),
    ]


def _request_headers() -> list[Case]:
    h = "request-headers.conformance"
    t = "HTTPRouteRequestHeaderModifier"
    v1 = BACKENDS[0]
    return [
        Case(
            t,
            h,
            "/set",
            headers={"Some-Other-Header": "val"},
            backend=v1,
            seen_headers={"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"},
        ),
        Case(
            t,
            h,
            "/set",
            headers={"Some-Other-Header": "val", "X-Header-Set": "some-other-value"},
            backend=v1,
            seen_headers={"X-Header-Set": "set-overwrites-values"},
        ),
        Case(t, h, "/add", backend=v1, seen_headers={"X-Header-Add": "add-appends-values"}),
        Case(
            t,
            h,
            "/add",
            headers={"X-Header-Add": "some-other-value"},
            backend=v1,
            seen_headers={"X-Header-Add": "some-other-value,add-appends-values"},
        ),
        Case(
            t,
            h,
            "/remove",
            headers={"X-Header-Remove": "val"},
            backend=v1,
            absent_headers=("X-Header-Remove",),
        ),
        Case(
            t,
            h,
            "/multiple",
            headers={
                "X-Header-Set-2": "set-val-2",
                "X-Header-Add-2": "add-val-2",
                "X-Header-Remove-2": "remove-val-2",
                "Another-Header": "another-header-val",
            },
            backend=v1,
            seen_headers={
                "X-Header-Set-1": "header-set-1",
                "X-Header-Set-2": "header-set-2",
                "X-Header-Add-1": "header-add-1",
                "X-Header-Add-2": "add-val-2,header-add-2",
                "X-Header-Add-3": "header-add-3",
                "Another-Header": "another-header-val",
            },
            absent_headers=("X-Header-Remove-1", "X-Header-Remove-2"),
        ),
        Case(
            t,
            h,
            "/case-insensitivity",
            headers={
                "x-header-set": "original-val-set",
                "x-header-add": "original-val-add",
                "x-header-remove": "original-val-remove",
            },
            backend=v1,
            seen_headers={
                "X-Header-Set": "header-set",
                "X-Header-Add": "original-val-add,header-add",
                "X-Uppercase-Add": "uppercase-add",
            },
            absent_headers=("X-Header-Remove",),
        ),
    ]


def _response_headers() -> list[Case]:
    h = "response-headers.conformance"
    t = "HTTPRouteResponseHeaderModifier"
    v1 = BACKENDS[0]
    return [
        Case(
            t,
            h,
            "/set",
            backend=v1,
            backend_sets={"Some-Other-Header": "val"},
            response_headers={"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"},
        ),
        Case(
            t,
            h,
            "/set",
            backend=v1,
            backend_sets={"X-Header-Set": "some-other-value"},
            response_headers={"X-Header-Set": "set-overwrites-values"},
        ),
        Case(
            t,
            h,
            "/add",
            backend=v1,
            backend_sets={"X-Header-Add": "some-other-value"},
            response_headers={"X-Header-Add": "some-other-value,add-appends-values"},
        ),
        Case(
            t,
            h,
            "/remove",
            backend=v1,
            backend_sets={"X-Header-Remove": "val"},
            absent_response_headers=("X-Header-Remove",),
        ),
        Case(
            t,
            h,
            "/multiple",
            backend=v1,
            backend_sets={
                "X-Header-Set-2": "set-val-2",
                "X-Header-Add-2": "add-val-2",
                "X-Header-Remove-2": "remove-val-2",
                "X-Header-Remove-1": "val",
                "Another-Header": "another-header-val",
            },
            response_headers={
                "X-Header-Set-1": "header-set-1",
                "X-Header-Set-2": "header-set-2",
                "X-Header-Add-1": "header-add-1",
                "X-Header-Add-2": "add-val-2,header-add-2",
                "X-Header-Add-3": "header-add-3",
                "Another-Header": "another-header-val",
            },
            absent_response_headers=("X-Header-Remove-1", "X-Header-Remove-2"),
        ),
        Case(
            t,
            h,
            "/case-insensitivity",
            backend=v1,
            backend_sets={"x-header-add": "original-val-add", "x-header-remove": "gone"},
            response_headers={
                "X-Header-Set": "header-set",
                "X-Header-Add": "original-val-add,header-add",
                "X-Uppercase-Add": "uppercase-add",
            },
            absent_response_headers=("X-Header-Remove",),
        ),
        Case(
            t,
            h,
            "/response-and-request-header-modifiers",
            headers={"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1"},
            backend=v1,
            backend_sets={"X-Header-Remove-1": "remove-val-1"},
            seen_headers={
                "X-Header-Set": "set-overwrites-values",
                "X-Header-Add-Append": "append-val-1,header-val-2",
            },
            absent_headers=("X-Header-Remove",),
            response_headers={"X-Header-Set-1": "header-set-1", "X-Header-Add-1": "header-add-1"},
            absent_response_headers=("X-Header-Remove-1",),
        ),
    ]


def _redirects() -> list[Case]:
    t = "HTTPRouteRedirect"
    h = "redirect-path.conformance"
    o = "redirect.conformance"

    def moved(host: str, path: str, status: int, where: tuple[str, str, int, str]) -> Case:
        return Case(t, host, path, status=status, location=where)

    return [
        moved(h, "/original-prefix/lemon", 302, ("http", h, 80, "/replacement-prefix/lemon")),
        moved(h, "/full/path/original", 302, ("http", h, 80, "/full-path-replacement")),
        moved(h, "/path-and-host", 302, ("http", "example.org", 80, "/replacement-prefix")),
        moved(h, "/path-and-status", 301, ("http", h, 80, "/replacement-prefix")),
        moved(h, "/full-path-and-host", 302, ("http", "example.org", 80, "/replacement-full")),
        moved(h, "/full-path-and-status", 301, ("http", h, 80, "/replacement-full")),
        moved(o, "/port", 302, ("http", o, 8083, "/port")),
        moved(o, "/port-and-host", 302, ("http", "example.org", 8083, "/port-and-host")),
        moved(o, "/port-and-status", 301, ("http", o, 8083, "/port-and-status")),
        moved(o, "/scheme", 302, ("https", o, 443, "/scheme")),
        moved(o, "/scheme-and-host", 302, ("https", "example.org", 443, "/scheme-and-host")),
        moved(o, "/scheme-and-status", 301, ("https", o, 443, "/scheme-and-status")),
        moved(
            o,
            "/scheme-https-and-port-8443",
            302,
            ("https", "example.org", 8443, "/scheme-https-and-port-8443"),
        ),
        moved(o, "/hostname-redirect", 302, ("http", "example.org", 80, "/hostname-redirect")),
        moved(o, "/host-and-status", 301, ("http", "example.org", 80, "/host-and-status")),
        moved(o, "/see-other", 303, ("http", o, 80, "/see-other")),
        moved(o, "/temporary", 307, ("http", o, 80, "/temporary")),
        moved(o, "/permanent", 308, ("http", o, 80, "/permanent")),
    ]


def _rewrites() -> list[Case]:
    v1, v2 = BACKENDS[:2]
    h = "rewrite-path.conformance"
    t = "HTTPRouteRewritePath"
    return [
        Case(
            "HTTPRouteRewriteHost",
            "rewrite.example",
            "/one",
            backend=v1,
            seen_host="one.example.org",
        ),
        Case(
            "HTTPRouteRewriteHost", "rewrite.example", "/two", backend=v2, seen_host="example.org"
        ),
        Case(t, h, "/prefix/one/two", backend=v1, seen_path="/one/two"),
        Case(t, h, "/strip-prefix/three", backend=v1, seen_path="/three"),
        Case(t, h, "/strip-prefix", backend=v1, seen_path="/"),
        Case(t, h, "/full/one/two", backend=v1, seen_path="/one"),
        Case(
            t,
            h,
            "/full/rewrite-path-and-modify-headers/test",
            headers={
                "X-Header-Remove": "remove-val",
                "X-Header-Add-Append": "append-val-1",
                "X-Header-Set": "set-val",
            },
            backend=v1,
            seen_path="/test",
            seen_headers={
                "X-Header-Add-Append": "append-val-1,header-val-2",
                "X-Header-Set": "set-overwrites-values",
            },
            absent_headers=("X-Header-Remove",),
        ),
    ]


def _mirror_timeouts_retries() -> list[Case]:
    v1, v2, v3 = BACKENDS
    m, o, r = "mirror.conformance", "timeout.conformance", "retry.conformance"
    t = "HTTPRouteRetry"
    return [
        Case("HTTPRouteRequestMirror", m, "/mirror", backend=v1, mirrored_to=v2),
        Case("HTTPRouteTimeoutRequest", o, "/request-timeout", backend=v1),
        Case("HTTPRouteTimeoutRequest", o, "/request-timeout", delayed=True, status=504),
        Case("HTTPRouteTimeoutRequest", o, "/disable-request-timeout", delayed=True, backend=v1),
        Case("HTTPRouteTimeoutBackendRequest", o, "/backend-timeout", backend=v1),
        Case("HTTPRouteTimeoutBackendRequest", o, "/backend-timeout", delayed=True, status=504),
        Case(
            "HTTPRouteTimeoutBackendRequest",
            o,
            "/disable-backend-timeout",
            delayed=True,
            backend=v1,
        ),
        Case(t, r, "/retry/code-500-attempts-3", fail_first=2, backend=v3, attempts=3),
        Case(t, r, "/retry/code-500-attempts-3", fail_first=4, status=500, attempts=4),
        Case(
            t,
            r,
            "/retry/code-500-attempts-3",
            fail_first=2,
            fail_status=503,
            status=503,
            attempts=1,
        ),
        Case(t, r, "/retry/code-all-attempts-2", fail_first=1, backend=v3, attempts=2),
        Case(t, r, "/retry/code-all-attempts-2", fail_first=3, status=500, attempts=3),
        Case(
            t,
            r,
            "/retry/code-all-attempts-2",
            fail_first=1,
            fail_status=502,
            backend=v3,
            attempts=2,
        ),
    ]


def _references() -> list[Case]:
    o = "omitted.conformance"
    t = "HTTPRouteOmittedBackendRefs"
    return [
        Case("HTTPRouteReferenceGrant", "granted.conformance", "/", backend=BACKENDS[0]),
        Case(
            "HTTPRouteInvalidCrossNamespaceBackendRef", "not-granted.conformance", "/", status=500
        ),
        Case("HTTPRouteInvalidNonexistentBackendRef", "nonexistent.conformance", "/", status=500),
        Case("HTTPRouteInvalidBackendRefUnknownKind", "unknown-kind.conformance", "/", status=500),
        Case(t, o, "/forward", backend=BACKENDS[0]),
        Case(t, o, "/omitted-no-forward", status=500),
        Case(t, o, "/empty-no-forward", status=500),
    ]


CASES = [
    *_matching(),
    *_exact(),
    *_headers(),
    *_query(),
    *_method(),
    *_order(),
    *_across_routes(),
    *_request_headers(),
    *_response_headers(),
    *_redirects(),
    *_rewrites(),
    *_mirror_timeouts_retries(),
    *_references(),
]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """One Envoy for every case: the suite's routes never change while it runs."""
    built = Mesh(Path(tmp_path_factory.mktemp("gateway-api")))
    try:
        upstreams = ("v1", "v2", "v3")
        for name, backend in zip(upstreams, BACKENDS, strict=True):
            built.upstream(name, service=backend)
        built.upstreams["v1"].configure(
            first_attempt_delay=BACKEND_DELAY, first_attempt_header=DELAY_HEADER
        )
        services = "".join(service(b, u) for u, b in zip(upstreams, BACKENDS, strict=True))
        built.start(services + ROUTES, gateway_document=GATEWAY, listener=LISTENER)
        yield built
    finally:
        built.close()


def _send(mesh: Mesh, case: Case) -> Exchange:
    headers = dict(case.headers)
    if case.delayed:
        headers[DELAY_HEADER] = uuid.uuid4().hex
    return exchange(
        case.method, (LOOPBACK, mesh.gateway_port), case.path, host=case.host, headers=headers
    )


def _values(text: str | None) -> list[str]:
    return [] if text is None else [part.strip() for part in text.split(",")]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance_case(mesh: Mesh, case: Case) -> None:
    v1, v3 = mesh.upstreams["v1"], mesh.upstreams["v3"]
    for upstream in mesh.upstreams.values():
        upstream.reset_stats()
    v1.configure(response_headers=case.backend_sets)
    v3.configure(fail_first=case.fail_first, fail_status=case.fail_status)
    try:
        answer = _send(mesh, case)
    finally:
        v1.configure(response_headers={})
        v3.configure(fail_first=0)

    assert answer.status == case.status, (answer.status, answer.body[:300])
    answered_by = {name: u.seen() for name, u in mesh.upstreams.items() if u.seen()}
    if case.backend is None and case.attempts is None and not case.delayed:
        assert not answered_by, f"the gateway should answer itself; backends saw {answered_by}"
    if case.backend is not None:
        assert json.loads(answer.body)["service"] == case.backend
        seen = mesh.upstreams[f"v{case.backend[-1]}"].seen()[-1]
        assert seen.path == (case.seen_path or case.path)
        assert seen.method == case.method
        assert seen.headers["host"] == (case.seen_host or case.host)
        for name, value in case.seen_headers.items():
            assert _values(seen.headers.get(name.lower())) == _values(value), name
        for name in case.absent_headers:
            assert name.lower() not in seen.headers, name
    for name, value in case.response_headers.items():
        assert _values(answer.header(name)) == _values(value), name
    for name in case.absent_response_headers:
        assert answer.header(name) is None, name
    if case.location is not None:
        location = urlsplit(answer.header("location") or "")
        default_port = 443 if location.scheme == "https" else 80
        found = (location.scheme, location.hostname, location.port or default_port, location.path)
        assert found == case.location, answer.header("location")
    if case.mirrored_to is not None:
        mirror = mesh.upstreams[f"v{case.mirrored_to[-1]}"]
        mesh.wait_for(lambda: mirror.seen(), 5.0, "the mirror to get its copy")
        assert mirror.seen()[-1].path == case.path
    if case.attempts is not None:
        assert v3.stats().requests == case.attempts


def test_weights_split_the_traffic(mesh: Mesh) -> None:
    """HTTPRouteWeight: 70/30/0, with 600 requests (each share within 4.5 standard deviations)."""
    counts = dict.fromkeys(BACKENDS, 0)
    for _ in range(600):
        answer = exchange("GET", (LOOPBACK, mesh.gateway_port), "/", host="weight.conformance")
        assert answer.status == 200
        counts[json.loads(answer.body)["service"]] += 1
    assert counts[BACKENDS[2]] == 0
    assert 420 - 51 <= counts[BACKENDS[0]] <= 420 + 51, counts


def test_each_route_reports_its_status_through_the_api_and_the_cli(mesh: Mesh) -> None:
    """HTTPRouteReferenceGrant / InvalidCrossNamespaceBackendRef: the conditions the suite reads."""
    answer = mesh.admin_api("GET", "/v1/policies")
    documents = {(d["kind"], d["name"]): d for d in answer["policies"]}

    def reasons(name: str) -> list[tuple[str, str, str]]:
        status = documents[("HTTPRoute", name)]["route_status"]
        return [
            (c["type"], c["status"], c["reason"])
            for parent in status["parents"]
            for c in parent["conditions"]
        ]

    assert reasons("web.granted") == [
        ("Accepted", "True", "Accepted"),
        ("ResolvedRefs", "True", "ResolvedRefs"),
    ]
    assert reasons("shop.not-granted") == [
        ("Accepted", "True", "Accepted"),
        ("ResolvedRefs", "False", "RefNotPermitted"),
    ]
    assert reasons("default.nonexistent-backend")[1] == ("ResolvedRefs", "False", "BackendNotFound")
    assert reasons("default.unknown-kind")[1] == ("ResolvedRefs", "False", "InvalidKind")
    assert documents[("HTTPRoute", "web.granted")]["proxies"] == [mesh.node_id(0)]
    assert documents[("Gateway", "default.same-namespace")]["services"] == list(BACKENDS)
    text = format_policies(answer)
    assert (
        "HTTPRoute shop/not-granted on Gateway default/same-namespace: "
        "ResolvedRefs=False (RefNotPermitted)"
    ) in text


def test_the_weights_api_shifts_a_gateway_api_route(mesh: Mesh) -> None:
    """Breakwater's own weights API on a Gateway API rule: all of it to the backend at 0."""
    route = "default.weighted-backends"
    mesh.set_weights(route, {BACKENDS[0]: 0, BACKENDS[1]: 0, BACKENDS[2]: 100})
    try:
        mesh.wait_for(
            lambda: _served_by(mesh) == {BACKENDS[2]}, 5.0, "the weight change to reach Envoy"
        )
        assert all(_served_by(mesh) == {BACKENDS[2]} for _ in range(5))
    finally:
        mesh.admin_api("DELETE", f"/v1/routes/{route}/weights?rule=0")


def _served_by(mesh: Mesh) -> set[str]:
    answers = [
        exchange("GET", (LOOPBACK, mesh.gateway_port), "/", host="weight.conformance")
        for _ in range(10)
    ]
    return {json.loads(a.body)["service"] for a in answers}
