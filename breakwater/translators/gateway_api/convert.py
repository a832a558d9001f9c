"""One Gateway API document → one document of Breakwater's internal model, field by field.

The conversion is per document: what it needs from other documents (which
Gateways a route attached to, which Service each backendRef resolved to)
comes in as a `RouteResolution` from `resolve`. Every converted field
remembers the field it came from, so an error found later, by the internal
model or by the checks across documents, points at the line and the field
the user wrote (`RawDocument.origin`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from breakwater.translators.documents import Origin, RawDocument, YamlPath, dotted
from breakwater.translators.durations import format_duration
from breakwater.translators.error_sentences import sentences
from breakwater.translators.errors import PolicyError
from breakwater.translators.gateway_api.model import (
    GatewayDocument,
    GRPCMethodMatch,
    HTTPHeaderFilter,
    HTTPHeaderMatch,
    HTTPPathModifier,
    HTTPQueryParamMatch,
    HTTPRouteDocument,
    HTTPRouteFilter,
    HTTPRouteMatch,
    HTTPRouteRule,
    RouteDocument,
)
from breakwater.translators.model import API_VERSION, Document, Gateway
from breakwater.translators.model_parts import QUALIFIED_NAMES
from breakwater.translators.names import Target
from breakwater.translators.route_model import HTTPRoute

NODE_CLUSTER_ANNOTATION = "breakwater.dev/node-cluster"
"""A Gateway's proxies: those whose `node.cluster` is this (Breakwater's `nodeSelector.cluster`)."""
NODE_METADATA_PREFIX = "breakwater.dev/node-metadata."
"""`breakwater.dev/node-metadata.<key>: <value>`: the proxies' `node.metadata` must hold it."""

CERTIFICATE_CHAIN_OPTION = "breakwater.dev/certificate-chain"
"""A listener's `tls.options` key: the PEM certificate chain, an absolute path on the Envoy host."""
PRIVATE_KEY_OPTION = "breakwater.dev/private-key"
"""A listener's `tls.options` key: the PEM private key, an absolute path on the Envoy host."""
TLS_OPTIONS = {CERTIFICATE_CHAIN_OPTION: "certificateChain", PRIVATE_KEY_OPTION: "privateKey"}
"""Each `tls.options` key Breakwater reads → the field of its own Gateway `tls` it fills."""

NO_BACKEND_STATUS = 500
"""The Gateway API's answer for a rule with no backend to forward to."""
FORWARDING = ("retry", "timeout", "mirror", "requestHeaders", "rewrite")
"""Converted rule fields that only mean something when the rule forwards."""
RETRY_ON_CODES = ("retriable-status-codes", "connect-failure", "refused-stream", "reset")
"""What a Gateway API retry with `codes` retries on: those codes, and connections that failed."""


@dataclass(frozen=True)
class RouteResolution:
    """What the other documents say about one route: `resolve` works it out."""

    gateways: tuple[str, ...]
    """Internal names of the Gateways that accepted the route."""
    hostnames: tuple[str, ...]
    """Its hostnames once intersected with those listeners' (`*` for all)."""
    backends: Mapping[tuple[int, int], Target] = field(default_factory=dict)
    """(rule, backendRef) → the Service it names; a ref missing here did not resolve."""
    mirrors: Mapping[tuple[int, int], Target] = field(default_factory=dict)
    """(rule, filter) → the Service a RequestMirror filter names."""
    services: tuple[str, ...] = ()
    """The Services the route is attached to (the mesh profile, GAMMA): their callers'."""


class _Converted:
    """The internal document as it is built, with the written field behind each converted one."""

    def __init__(self, raw: RawDocument) -> None:
        self.raw = raw
        self.paths: dict[YamlPath, YamlPath] = {}
        self.errors: list[PolicyError] = []

    def came_from(self, internal: YamlPath, written: YamlPath) -> None:
        self.paths[internal] = written

    def refuse(self, kind: str, name: str, written: YamlPath, message: str) -> None:
        self.errors.append(
            PolicyError(
                self.raw.file,
                self.raw.line_of(written),
                message,
                kind=kind,
                name=name,
                field=dotted(written),
            )
        )

    def document(
        self, cls: type[Document], data: dict[str, Any], kind: str, name: str
    ) -> tuple[Document | None, RawDocument]:
        """Validate the converted data as the internal model; errors land on the written fields."""
        origin = Origin(kind=kind, paths=self.paths)
        lines = {path: self.raw.line_of(written) for path, written in self.paths.items()}
        converted = RawDocument(self.raw.file, self.raw.line, data, lines, origin)
        try:
            return cls.model_validate(data, context={QUALIFIED_NAMES: True}), converted
        except ValidationError as exc:
            for loc, message in sentences(cls, exc, data):
                self.errors.append(
                    PolicyError(
                        self.raw.file,
                        converted.line_of(loc),
                        message,
                        kind=kind,
                        name=name,
                        field=converted.field_of(loc) or None,
                    )
                )
            return None, converted


# --- Gateway ---------------------------------------------------------------------------------


def convert_gateway(
    doc: GatewayDocument, raw: RawDocument
) -> tuple[Gateway | None, RawDocument, list[PolicyError]]:
    """A Gateway is one Envoy listener on its listeners' one port, for the proxies its
    annotations select (every proxy without them)."""
    out = _Converted(raw)
    spec: dict[str, Any] = {"port": doc.spec.listeners[0].port}
    out.came_from(("spec", "port"), ("spec", "listeners", 0, "port"))
    if doc.spec.addresses:
        spec["address"] = doc.spec.addresses[0].value
        out.came_from(("spec", "address"), ("spec", "addresses", 0, "value"))
    tls = _gateway_tls(doc, out)
    if tls is not None:
        spec["tls"] = tls
    selector: dict[str, Any] = {}
    annotations = doc.metadata.annotations
    if NODE_CLUSTER_ANNOTATION in annotations:
        selector["cluster"] = annotations[NODE_CLUSTER_ANNOTATION]
    metadata = {
        key.removeprefix(NODE_METADATA_PREFIX): value
        for key, value in sorted(annotations.items())
        if key.startswith(NODE_METADATA_PREFIX)
    }
    if metadata:
        selector["metadata"] = metadata
    if selector:
        spec["nodeSelector"] = selector
        out.came_from(("spec", "nodeSelector"), ("metadata", "annotations"))
    data = {
        "apiVersion": API_VERSION,
        "kind": "Gateway",
        "metadata": {"name": doc.name},
        "spec": spec,
    }
    gateway, converted = out.document(Gateway, data, "Gateway", doc.name)
    assert gateway is None or isinstance(gateway, Gateway)
    return gateway, converted, out.errors


def _gateway_tls(doc: GatewayDocument, out: _Converted) -> dict[str, str] | None:
    """The one `tls` of the Gateway's one Envoy listener, from its HTTPS listeners' options.

    Breakwater reads no Kubernetes Secret: `certificateRefs` are accepted and
    not read, and the certificate Envoy loads is named by path in `tls.options`.
    """
    found: dict[str, str] | None = None
    first = ""
    for index, listener in enumerate(doc.spec.listeners):
        at: YamlPath = ("spec", "listeners", index)
        if listener.protocol == "HTTP":
            if listener.tls is not None:
                out.refuse(
                    "Gateway",
                    doc.name,
                    (*at, "tls"),
                    "`tls` is for a listener with `protocol: HTTPS`; remove it, or make the "
                    "listener HTTPS",
                )
            continue
        if listener.tls is None:
            out.refuse(
                "Gateway",
                doc.name,
                (*at, "protocol"),
                "an HTTPS listener needs `tls` with `options` naming the certificate files on "
                f"the Envoy host: {CERTIFICATE_CHAIN_OPTION} and {PRIVATE_KEY_OPTION} "
                "(absolute paths; Breakwater reads no Secret, so certificateRefs alone do not do)",
            )
            continue
        if listener.tls.mode == "Passthrough":
            out.refuse(
                "Gateway",
                doc.name,
                (*at, "tls", "mode"),
                "Breakwater terminates TLS and does not pass it through (a TLSRoute's job): use "
                f"`mode: Terminate` (the default) with tls.options {CERTIFICATE_CHAIN_OPTION} and "
                f"{PRIVATE_KEY_OPTION}, or give the backend its own port outside this Gateway",
            )
            continue
        files = _tls_options(doc, out, index)
        if files is None:
            continue
        if found is None:
            found, first = files, listener.name
            for option, field_name in TLS_OPTIONS.items():
                out.came_from(("spec", "tls", field_name), (*at, "tls", "options", option))
            out.came_from(("spec", "tls"), (*at, "tls"))
        elif files != found:
            out.refuse(
                "Gateway",
                doc.name,
                (*at, "tls", "options"),
                f"listener {listener.name!r} names other certificate files than listener "
                f"{first!r}; a Breakwater gateway is one Envoy "
                "listener with one certificate: give each certificate its own Gateway and port",
            )
    protocols = {listener.protocol for listener in doc.spec.listeners}
    if len(protocols) > 1:
        out.refuse(
            "Gateway",
            doc.name,
            ("spec", "listeners"),
            "the listeners mix HTTP and HTTPS on one port; a Breakwater gateway is one Envoy "
            "listener on one port: give the HTTP listeners their own Gateway and port",
        )
    return found


def _tls_options(doc: GatewayDocument, out: _Converted, index: int) -> dict[str, str] | None:
    """The certificate files an HTTPS listener names, or None (and an error) without both."""
    listener = doc.spec.listeners[index]
    assert listener.tls is not None
    options = listener.tls.options
    at: YamlPath = ("spec", "listeners", index, "tls")
    allowed = f"{CERTIFICATE_CHAIN_OPTION} and {PRIVATE_KEY_OPTION}"
    for key in sorted(options):
        if key not in TLS_OPTIONS:
            out.refuse(
                "Gateway",
                doc.name,
                (*at, "options", key),
                f"unknown tls option {key!r}; Breakwater reads {allowed} (absolute paths of the "
                "certificate chain and private key on the Envoy host)",
            )
    missing = [key for key in TLS_OPTIONS if key not in options]
    if missing:
        out.refuse(
            "Gateway",
            doc.name,
            (*at, "options") if options else at,
            f"tls.options lacks {' and '.join(missing)}; an HTTPS listener names both {allowed}: "
            "absolute paths of the PEM certificate chain and private key on the Envoy host "
            "(Breakwater reads no Secret, so certificateRefs are not read)",
        )
        return None
    if len(options) != len(TLS_OPTIONS):
        return None
    return {field_name: options[key] for key, field_name in TLS_OPTIONS.items()}


# --- routes --------------------------------------------------------------------------------------


def convert_route(
    doc: RouteDocument, raw: RawDocument, resolution: RouteResolution
) -> tuple[HTTPRoute | None, RawDocument, list[PolicyError]]:
    """An HTTPRoute or GRPCRoute as Breakwater's HTTPRoute on the Gateways that accepted it,
    and on the Services it is attached to (GAMMA).

    A rule with no backendRef that resolved (or none at all) answers 500 by
    itself, as the Gateway API asks; its status says which references failed.
    """
    out = _Converted(raw)
    rules = [_rule(out, doc, index, rule, resolution) for index, rule in enumerate(doc.spec.rules)]
    data = {
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {"name": doc.name},
        "spec": {
            "gateways": list(resolution.gateways),
            "services": list(resolution.services),
            "hostnames": list(resolution.hostnames),
            "rules": rules,
        },
    }
    out.came_from(("spec", "gateways"), ("spec", "parentRefs"))
    out.came_from(("spec", "services"), ("spec", "parentRefs"))
    out.came_from(("spec", "hostnames"), ("spec", "hostnames"))
    route, converted_raw = out.document(HTTPRoute, data, doc.kind, doc.name)
    if out.errors:
        return None, converted_raw, out.errors
    assert isinstance(route, HTTPRoute)
    return route, converted_raw, out.errors


def _rule(
    out: _Converted,
    doc: RouteDocument,
    r_index: int,
    rule: Any,
    resolution: RouteResolution,
) -> dict[str, Any]:
    """One rule, at the same index inside as written."""
    written: YamlPath = ("spec", "rules", r_index)
    mapped: Callable[[YamlPath, YamlPath], None] = lambda i, w: out.came_from(  # noqa: E731
        (*written, *i), (*written, *w)
    )
    mapped((), ())
    converted: dict[str, Any] = {}
    if rule.name is not None:
        converted["name"] = rule.name
        mapped(("name",), ("name",))
    backends: list[dict[str, Any]] = []
    for b_index, ref in enumerate(rule.backend_refs):
        if ref.filters:
            out.refuse(
                doc.kind,
                doc.name,
                (*written, "backendRefs", b_index, "filters"),
                "filters on one backendRef are not supported; put them in the rule's `filters`, "
                "where they apply to every backend",
            )
        target = resolution.backends.get((r_index, b_index))
        if target is None:
            continue
        mapped(("backends", len(backends)), ("backendRefs", b_index))
        backend: dict[str, Any] = {"service": target[0], "weight": ref.weight}
        if target[1] is not None:
            backend["subset"] = target[1]
        backends.append(backend)
    redirects = any(f.type == "RequestRedirect" for f in rule.filters)
    if backends:
        converted["backends"] = backends
    mapped(("backends",), ("backendRefs",))
    if isinstance(doc, HTTPRouteDocument):
        assert isinstance(rule, HTTPRouteRule)
        matches = [_http_match(m) for m in rule.matches]
        _timeouts(converted, rule, mapped)
    else:
        matches = [_grpc_match(m) for m in rule.matches]
    if matches:
        converted["matches"] = matches
        mapped(("matches",), ("matches",))
        for m_index in range(len(matches)):
            mapped(("matches", m_index), ("matches", m_index))
    _filters(out, doc, r_index, rule.filters, converted, resolution, mapped)
    if not backends and not redirects:
        # Nothing to forward to (none given, or none resolved): the Gateway API answers 500,
        # and what would shape the forwarded request has nothing to shape.
        for forwarding in FORWARDING:
            converted.pop(forwarding, None)
        converted["directResponse"] = {"status": NO_BACKEND_STATUS}
        mapped(("directResponse",), ("backendRefs",))
    return converted


def _header_match(match: HTTPHeaderMatch | HTTPQueryParamMatch) -> dict[str, str]:
    kind = "value" if match.type == "Exact" else "regex"
    return {"name": match.name, kind: match.value}


def _http_match(match: HTTPRouteMatch) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if match.path is not None:
        kind = {"Exact": "exact", "PathPrefix": "segmentPrefix", "RegularExpression": "regex"}
        out["path"] = {kind[match.path.type]: match.path.value}
    if match.headers:
        out["headers"] = [_header_match(h) for h in _first_of_each(match.headers, str.lower)]
    if match.query_params:
        out["queryParams"] = [_header_match(q) for q in _first_of_each(match.query_params, str)]
    if match.method is not None:
        out["method"] = match.method
    return out


def _first_of_each(
    matches: Sequence[HTTPHeaderMatch | HTTPQueryParamMatch], key: Callable[[str], str]
) -> list[Any]:
    """The Gateway API's rule for a name given twice: the first one counts."""
    seen: set[str] = set()
    kept = []
    for match in matches:
        if key(match.name) not in seen:
            seen.add(key(match.name))
            kept.append(match)
    return kept


def _grpc_match(match: Any) -> dict[str, Any]:
    """gRPC calls are POSTs to `/<service>/<method>`: a method match is a path match."""
    out: dict[str, Any] = {}
    method: GRPCMethodMatch | None = match.method
    if method is not None:
        out["path"] = _grpc_path(method)
    if match.headers:
        out["headers"] = [_header_match(h) for h in _first_of_each(match.headers, str.lower)]
    return out


def _grpc_path(method: GRPCMethodMatch) -> dict[str, str]:
    if method.type == "Exact":
        if method.service is not None and method.method is not None:
            return {"exact": f"/{method.service}/{method.method}"}
        if method.service is not None:
            return {"prefix": f"/{method.service}/"}
        return {"regex": f"/[^/]+/{re.escape(method.method or '')}"}
    service = method.service or "[^/]+"
    name = method.method or "[^/]+"
    return {"regex": f"/{service}/{name}"}


def _timeouts(
    converted: dict[str, Any], rule: HTTPRouteRule, mapped: Callable[[YamlPath, YamlPath], None]
) -> None:
    timeouts, retry = rule.timeouts, rule.retry
    if timeouts is not None and timeouts.request is not None:
        converted["timeout"] = {"request": format_duration(timeouts.request)}
        mapped(("timeout",), ("timeouts", "request"))
    internal_retry: dict[str, Any] = {}
    if retry is not None:
        # The Gateway API counts retries; Breakwater counts attempts, the first one included.
        internal_retry["attempts"] = (1 if retry.attempts is None else retry.attempts) + 1
        if retry.codes:
            internal_retry["retryOn"] = list(RETRY_ON_CODES)
            internal_retry["retriableStatusCodes"] = list(retry.codes)
        if retry.backoff is not None:
            internal_retry["backoff"] = {"baseInterval": format_duration(retry.backoff)}
        mapped(("retry",), ("retry",))
    if timeouts is not None and timeouts.backend_request:  # 0s: no per-try timeout
        internal_retry.setdefault("attempts", 1)
        internal_retry["perTryTimeout"] = format_duration(timeouts.backend_request)
        mapped(("retry", "perTryTimeout"), ("timeouts", "backendRequest"))
        if retry is None:
            mapped(("retry",), ("timeouts", "backendRequest"))
    if internal_retry:
        converted["retry"] = internal_retry


def _header_changes(changes: HTTPHeaderFilter) -> dict[str, Any]:
    return {
        "set": [{"name": h.name, "value": h.value} for h in changes.set],
        "add": [{"name": h.name, "value": h.value} for h in changes.add],
        "remove": list(changes.remove),
    }


def _path_modifier(path: HTTPPathModifier) -> dict[str, str]:
    if path.type == "ReplaceFullPath":
        return {"full": path.replace_full_path or ""}
    return {"prefix": path.replace_prefix_match or ""}


_FILTER_TARGETS = {
    "RequestHeaderModifier": ("requestHeaders", "requestHeaderModifier"),
    "ResponseHeaderModifier": ("responseHeaders", "responseHeaderModifier"),
    "RequestMirror": ("mirror", "requestMirror"),
    "RequestRedirect": ("redirect", "requestRedirect"),
    "URLRewrite": ("rewrite", "urlRewrite"),
}
"""Filter type → the rule field it becomes, and the filter field that holds its settings."""


def _filters(
    out: _Converted,
    doc: RouteDocument,
    r_index: int,
    filters: list[HTTPRouteFilter],
    converted: dict[str, Any],
    resolution: RouteResolution,
    mapped: Callable[[YamlPath, YamlPath], None],
) -> None:
    for f_index, item in enumerate(filters):
        target, settings = _FILTER_TARGETS[item.type]
        if target in converted:
            out.refuse(
                doc.kind,
                doc.name,
                ("spec", "rules", r_index, "filters", f_index, "type"),
                f"the rule has two {item.type} filters; Breakwater takes one of each type per "
                "rule: merge them into one",
            )
            continue
        mapped((target,), ("filters", f_index, settings))
        if item.request_header_modifier is not None:
            converted[target] = _header_changes(item.request_header_modifier)
        elif item.response_header_modifier is not None:
            converted[target] = _header_changes(item.response_header_modifier)
        elif item.request_mirror is not None:
            mirror = resolution.mirrors.get((r_index, f_index))
            if mirror is None:
                continue
            body: dict[str, Any] = {"service": mirror[0], "percent": item.request_mirror.share()}
            if mirror[1] is not None:
                body["subset"] = mirror[1]
            converted[target] = body
        elif item.request_redirect is not None:
            redirect = item.request_redirect
            moved: dict[str, Any] = {"statusCode": redirect.status_code}
            if redirect.scheme is not None:
                moved["scheme"] = redirect.scheme
            if redirect.hostname is not None:
                moved["host"] = redirect.hostname
            if redirect.port is not None:
                moved["port"] = redirect.port
            if redirect.path is not None:
                moved["path"] = _path_modifier(redirect.path)
            converted[target] = moved
        elif item.url_rewrite is not None:
            rewrite: dict[str, Any] = {}
            if item.url_rewrite.hostname is not None:
                rewrite["host"] = item.url_rewrite.hostname
            if item.url_rewrite.path is not None:
                rewrite["path"] = _path_modifier(item.url_rewrite.path)
            converted[target] = rewrite


__all__ = [
    "NODE_CLUSTER_ANNOTATION",
    "NODE_METADATA_PREFIX",
    "RouteResolution",
    "convert_gateway",
    "convert_route",
]
