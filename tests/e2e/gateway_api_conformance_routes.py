"""The Gateway API documents the conformance cases run against, one hostname per suite test.

The Gateway API's conformance suite applies each test's manifests alone; here
they are served together from one Gateway, each test's routes on a hostname
of their own (`<test>.conformance`), so that no route of one test can catch
the requests of another. Where a test names its own hostnames (matching
across routes, rewrite host) they are kept. Backends are Breakwater Services
named as the suite's (`infra-backend-v1`…), one upstream each.
"""

from __future__ import annotations

GATEWAY_NAME = "same-namespace"
LISTENER = f"default.{GATEWAY_NAME}"
"""The Envoy listener (and route configuration) the Gateway becomes."""

GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: same-namespace
  annotations: {breakwater.dev/node-cluster: edge}
spec:
  gatewayClassName: breakwater
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
    - name: http
      port: $gateway_port
      protocol: HTTP
      allowedRoutes: {namespaces: {from: All}}
"""


def _route(name: str, host: str | None, rules: str, namespace: str = "default") -> str:
    hostnames = f"  hostnames: [{host}]\n" if host else ""
    return (
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec:\n  parentRefs: [{{name: {GATEWAY_NAME}, namespace: default}}]\n"
        f"{hostnames}  rules:\n{rules}"
    )


V1 = "[{name: infra-backend-v1, port: 8080}]"
V2 = "[{name: infra-backend-v2, port: 8080}]"
V3 = "[{name: infra-backend-v3, port: 8080}]"

MATCHING = _route(
    "matching",
    "matching.conformance",
    f"""\
    - matches: [{{path: {{type: PathPrefix, value: /}}}}, {{headers: [{{name: version, value: one}}]}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /v2}}}}, {{headers: [{{name: version, value: two}}]}}]
      backendRefs: {V2}
""",
)

EXACT = _route(
    "exact-matching",
    "exact.conformance",
    f"""\
    - matches: [{{path: {{type: Exact, value: /one}}}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: Exact, value: /two}}}}]
      backendRefs: {V2}
""",
)

HEADERS = _route(
    "header-matching",
    "headers.conformance",
    f"""\
    - matches: [{{headers: [{{name: version, value: one}}]}}]
      backendRefs: {V1}
    - matches: [{{headers: [{{name: version, value: two}}]}}]
      backendRefs: {V2}
    - matches: [{{headers: [{{name: version, value: two}}, {{name: color, value: orange}}]}}]
      backendRefs: {V1}
    - matches: [{{headers: [{{name: color, value: blue}}]}}, {{headers: [{{name: color, value: green}}]}}]
      backendRefs: {V1}
    - matches: [{{headers: [{{name: color, value: red}}]}}, {{headers: [{{name: color, value: yellow}}]}}]
      backendRefs: {V2}
    - matches: [{{headers: [{{type: RegularExpression, name: x-build, value: "v[0-9]+[.]beta"}}]}}]
      backendRefs: {V3}
""",
)

QUERY = _route(
    "query-param-matching",
    "query.conformance",
    f"""\
    - matches: [{{queryParams: [{{name: animal, value: whale}}]}}]
      backendRefs: {V1}
    - matches: [{{queryParams: [{{name: animal, value: dolphin}}]}}]
      backendRefs: {V2}
    - matches:
        - queryParams: [{{name: animal, value: dolphin}}, {{name: color, value: blue}}]
        - queryParams: [{{name: ANIMAL, value: Whale}}]
      backendRefs: {V3}
    - matches: [{{path: {{type: PathPrefix, value: /path1}}, queryParams: [{{name: animal, value: whale}}]}}]
      backendRefs: {V1}
    - matches: [{{headers: [{{name: version, value: one}}], queryParams: [{{name: animal, value: whale}}]}}]
      backendRefs: {V2}
    - matches:
        - path: {{type: PathPrefix, value: /path2}}
          headers: [{{name: version, value: two}}]
          queryParams: [{{name: animal, value: whale}}]
      backendRefs: {V3}
    - matches:
        - path: {{type: PathPrefix, value: /path3}}
          queryParams: [{{name: animal, value: shark}}]
        - path: {{type: PathPrefix, value: /path4}}
          headers: [{{name: version, value: three}}]
          queryParams: [{{name: animal, value: kraken}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /path5}}}}]
      backendRefs: {V1}
    - matches: [{{queryParams: [{{name: animal, value: hydra}}]}}]
      backendRefs: {V2}
    - matches: [{{headers: [{{name: version, value: four}}]}}]
      backendRefs: {V3}
""",
)

METHOD = _route(
    "method-matching",
    "method.conformance",
    f"""\
    - matches: [{{method: POST}}]
      backendRefs: {V1}
    - matches: [{{method: GET}}]
      backendRefs: {V2}
    - matches: [{{path: {{type: PathPrefix, value: /path1}}, method: GET}}]
      backendRefs: {V1}
    - matches: [{{headers: [{{name: version, value: one}}], method: PUT}}]
      backendRefs: {V2}
    - matches:
        - {{path: {{type: PathPrefix, value: /path2}}, headers: [{{name: version, value: two}}], method: POST}}
      backendRefs: {V3}
    - matches:
        - {{path: {{type: PathPrefix, value: /path3}}, method: PATCH}}
        - {{path: {{type: PathPrefix, value: /path4}}, headers: [{{name: version, value: three}}], method: DELETE}}
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /path5}}}}]
      backendRefs: {V1}
    - matches: [{{method: PATCH}}]
      backendRefs: {V2}
    - matches: [{{headers: [{{name: version, value: four}}]}}]
      backendRefs: {V3}
""",
)

ORDER = _route(
    "path-matching-order",
    "order.conformance",
    f"""\
    - matches: [{{path: {{type: Exact, value: /match}}}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: Exact, value: /match/exact}}}}]
      backendRefs: {V2}
    - matches: [{{path: {{type: Exact, value: /match/exact/one}}}}]
      backendRefs: {V3}
    - matches: [{{path: {{type: PathPrefix, value: /match/}}}}]
      backendRefs: {V3}
    - matches: [{{path: {{type: PathPrefix, value: /match/prefix/}}}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /match/prefix/one}}}}]
      backendRefs: {V2}
    - matches: [{{path: {{type: RegularExpression, value: "/regex/[0-9]+"}}}}]
      backendRefs: {V2}
""",
)

ACROSS_ROUTES = _route(
    "matching-part1",
    "example.com, example.net",
    f"""\
    - matches: [{{path: {{type: PathPrefix, value: /}}}}, {{headers: [{{name: version, value: one}}]}}]
      backendRefs: {V1}
""",
) + _route(
    "matching-part2",
    "example.com",
    f"""\
    - matches: [{{path: {{type: PathPrefix, value: /v2}}}}, {{headers: [{{name: version, value: two}}]}}]
      backendRefs: {V2}
""",
)

WEIGHT = _route(
    "weighted-backends",
    "weight.conformance",
    """\
    - backendRefs:
        - {name: infra-backend-v1, port: 8080, weight: 70}
        - {name: infra-backend-v2, port: 8080, weight: 30}
        - {name: infra-backend-v3, port: 8080, weight: 0}
""",
)

_MODIFIER_RULES = """\
    - matches: [{{path: {{type: PathPrefix, value: /set}}}}]
      filters: [{{type: {kind}, {field}: {{set: [{{name: X-Header-Set, value: set-overwrites-values}}]}}}}]
      backendRefs: {backend}
    - matches: [{{path: {{type: PathPrefix, value: /add}}}}]
      filters: [{{type: {kind}, {field}: {{add: [{{name: X-Header-Add, value: add-appends-values}}]}}}}]
      backendRefs: {backend}
    - matches: [{{path: {{type: PathPrefix, value: /remove}}}}]
      filters: [{{type: {kind}, {field}: {{remove: [X-Header-Remove]}}}}]
      backendRefs: {backend}
    - matches: [{{path: {{type: PathPrefix, value: /multiple}}}}]
      filters:
        - type: {kind}
          {field}:
            set: [{{name: X-Header-Set-1, value: header-set-1}}, {{name: X-Header-Set-2, value: header-set-2}}]
            add:
              - {{name: X-Header-Add-1, value: header-add-1}}
              - {{name: X-Header-Add-2, value: header-add-2}}
              - {{name: X-Header-Add-3, value: header-add-3}}
            remove: [X-Header-Remove-1, X-Header-Remove-2]
      backendRefs: {backend}
    - matches: [{{path: {{type: PathPrefix, value: /case-insensitivity}}}}]
      filters:
        - type: {kind}
          {field}:
            set: [{{name: X-Header-Set, value: header-set}}]
            add: [{{name: X-Header-Add, value: header-add}}, {{name: X-UPPERCASE-ADD, value: uppercase-add}}]
            remove: [X-Header-Remove]
      backendRefs: {backend}
"""

REQUEST_HEADERS = _route(
    "request-header-modifier",
    "request-headers.conformance",
    _MODIFIER_RULES.format(kind="RequestHeaderModifier", field="requestHeaderModifier", backend=V1),
)

RESPONSE_HEADERS = _route(
    "response-header-modifier",
    "response-headers.conformance",
    _MODIFIER_RULES.format(
        kind="ResponseHeaderModifier", field="responseHeaderModifier", backend=V1
    )
    + f"""\
    - matches: [{{path: {{type: PathPrefix, value: /response-and-request-header-modifiers}}}}]
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{{name: X-Header-Set-1, value: header-set-1}}]
            add: [{{name: X-Header-Add-1, value: header-add-1}}]
            remove: [X-Header-Remove-1]
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{{name: X-Header-Set, value: set-overwrites-values}}]
            add: [{{name: X-Header-Add-Append, value: header-val-2}}]
            remove: [X-Header-Remove]
      backendRefs: {V1}
""",
)


def _redirect(prefix: str, redirect: str) -> str:
    return (
        f"    - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]\n"
        f"      filters: [{{type: RequestRedirect, requestRedirect: {redirect}}}]\n"
    )


REDIRECTS = _route(
    "redirect-path",
    "redirect-path.conformance",
    _redirect(
        "/original-prefix",
        "{path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}",
    )
    + _redirect("/full", "{path: {type: ReplaceFullPath, replaceFullPath: /full-path-replacement}}")
    + _redirect(
        "/path-and-host",
        "{hostname: example.org, path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}",
    )
    + _redirect(
        "/path-and-status",
        "{statusCode: 301, path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}",
    )
    + _redirect(
        "/full-path-and-host",
        "{hostname: example.org, path: {type: ReplaceFullPath, replaceFullPath: /replacement-full}}",
    )
    + _redirect(
        "/full-path-and-status",
        "{statusCode: 301, path: {type: ReplaceFullPath, replaceFullPath: /replacement-full}}",
    ),
) + _route(
    "redirect-port-scheme-host",
    "redirect.conformance",
    _redirect("/port", "{port: 8083}")
    + _redirect("/port-and-host", "{hostname: example.org, port: 8083}")
    + _redirect("/port-and-status", "{port: 8083, statusCode: 301}")
    + _redirect("/scheme", "{scheme: https}")
    + _redirect("/scheme-and-host", "{scheme: https, hostname: example.org}")
    + _redirect("/scheme-and-status", "{scheme: https, statusCode: 301}")
    + _redirect("/scheme-https-and-port-8443", "{scheme: https, port: 8443, hostname: example.org}")
    + _redirect("/hostname-redirect", "{hostname: example.org}")
    + _redirect("/host-and-status", "{hostname: example.org, statusCode: 301}")
    + _redirect("/see-other", "{statusCode: 303}")
    + _redirect("/temporary", "{statusCode: 307}")
    + _redirect("/permanent", "{statusCode: 308}"),
)

REWRITES = _route(
    "rewrite-host",
    "rewrite.example",
    f"""\
    - matches: [{{path: {{type: PathPrefix, value: /one}}}}]
      filters: [{{type: URLRewrite, urlRewrite: {{hostname: one.example.org}}}}]
      backendRefs: {V1}
    - filters: [{{type: URLRewrite, urlRewrite: {{hostname: example.org}}}}]
      backendRefs: {V2}
""",
) + _route(
    "rewrite-path",
    "rewrite-path.conformance",
    f"""\
    - matches: [{{path: {{type: PathPrefix, value: /prefix/one}}}}]
      filters: [{{type: URLRewrite, urlRewrite: {{path: {{type: ReplacePrefixMatch, replacePrefixMatch: /one}}}}}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /strip-prefix}}}}]
      filters: [{{type: URLRewrite, urlRewrite: {{path: {{type: ReplacePrefixMatch, replacePrefixMatch: /}}}}}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /full/one}}}}]
      filters: [{{type: URLRewrite, urlRewrite: {{path: {{type: ReplaceFullPath, replaceFullPath: /one}}}}}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /full/rewrite-path-and-modify-headers}}}}]
      filters:
        - {{type: URLRewrite, urlRewrite: {{path: {{type: ReplaceFullPath, replaceFullPath: /test}}}}}}
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{{name: X-Header-Set, value: set-overwrites-values}}]
            add: [{{name: X-Header-Add-Append, value: header-val-2}}]
            remove: [X-Header-Remove]
      backendRefs: {V1}
""",
)

MIRROR = _route(
    "request-mirror",
    "mirror.conformance",
    f"""\
    - matches: [{{path: {{type: PathPrefix, value: /mirror}}}}]
      filters: [{{type: RequestMirror, requestMirror: {{backendRef: {{name: infra-backend-v2, port: 8080}}}}}}]
      backendRefs: {V1}
""",
)

TIMEOUTS = _route(
    "timeouts",
    "timeout.conformance",
    f"""\
    - matches: [{{path: {{type: PathPrefix, value: /request-timeout}}}}]
      timeouts: {{request: 500ms}}
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /disable-request-timeout}}}}]
      timeouts: {{request: 0s}}
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /backend-timeout}}}}]
      timeouts: {{backendRequest: 500ms}}
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /disable-backend-timeout}}}}]
      timeouts: {{backendRequest: 0s}}
      backendRefs: {V1}
""",
)

RETRIES = _route(
    "retries",
    "retry.conformance",
    f"""\
    - matches: [{{path: {{type: PathPrefix, value: /retry/code-500-attempts-3}}}}]
      retry: {{codes: [500], attempts: 3}}
      backendRefs: {V3}
    - matches: [{{path: {{type: PathPrefix, value: /retry/code-all-attempts-2}}}}]
      retry: {{codes: [500, 502, 503, 504], attempts: 2}}
      backendRefs: {V3}
""",
)

CROSS_NAMESPACE = (
    _route(
        "granted",
        "granted.conformance",
        "    - backendRefs: [{name: infra-backend-v1, namespace: default, port: 8080}]\n",
        namespace="web",
    )
    + _route(
        "not-granted",
        "not-granted.conformance",
        "    - backendRefs: [{name: infra-backend-v1, namespace: default, port: 8080}]\n",
        namespace="shop",
    )
    + """\
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: web-to-backends, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]
  to: [{group: "", kind: Service}]
"""
)

UNRESOLVED = (
    _route(
        "omitted-backendrefs",
        "omitted.conformance",
        f"""\
    - matches: [{{path: {{type: PathPrefix, value: /forward}}}}]
      backendRefs: {V1}
    - matches: [{{path: {{type: PathPrefix, value: /omitted-no-forward}}}}]
    - matches: [{{path: {{type: PathPrefix, value: /empty-no-forward}}}}]
      backendRefs: []
""",
    )
    + _route(
        "nonexistent-backend",
        "nonexistent.conformance",
        "    - backendRefs: [{name: does-not-exist, port: 8080}]\n",
    )
    + _route(
        "unknown-kind",
        "unknown-kind.conformance",
        "    - backendRefs: [{group: unknownkind.example.com, kind: NonExistent, name: x}]\n",
    )
)

ROUTES = "".join(
    [
        MATCHING,
        EXACT,
        HEADERS,
        QUERY,
        METHOD,
        ORDER,
        ACROSS_ROUTES,
        WEIGHT,
        REQUEST_HEADERS,
        RESPONSE_HEADERS,
        REDIRECTS,
        REWRITES,
        MIRROR,
        TIMEOUTS,
        RETRIES,
        CROSS_NAMESPACE,
        UNRESOLVED,
    ]
)
