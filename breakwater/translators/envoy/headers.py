"""Header changes, redirects and rewrites → the route's header ops, `redirect`, and rewrites.

The words are the Gateway API's, and so is what they mean where Envoy's own
fields mean something else: a prefix replacement keeps one `/` between the
new prefix and the rest of the path, a redirect that switches scheme goes to
that scheme's port, and header values are taken literally (Envoy would read
`%` as the start of a command).
"""

from __future__ import annotations

import re

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.type.matcher.v3 import regex_pb2

from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.traffic_model import (
    DirectResponse,
    HeaderChanges,
    PathModifier,
    Redirect,
    Rewrite,
)

_REDIRECT_CODES: dict[int, route_components_pb2.RedirectAction.RedirectResponseCode.ValueType] = {
    301: route_components_pb2.RedirectAction.MOVED_PERMANENTLY,
    302: route_components_pb2.RedirectAction.FOUND,
    303: route_components_pb2.RedirectAction.SEE_OTHER,
    307: route_components_pb2.RedirectAction.TEMPORARY_REDIRECT,
    308: route_components_pb2.RedirectAction.PERMANENT_REDIRECT,
}
_WELL_KNOWN_PORTS = {"http": 80, "https": 443}

_LITERAL = "values are sent as written (Breakwater escapes the % that Envoy would expand)"

EXPLAIN: Meanings = {
    ("request_headers", "set"): FieldMeaning(
        "route.request_headers_to_add (append_action: OVERWRITE_IF_EXISTS_OR_ADD)",
        "applied by the router as the request leaves, after the fault filter and the rate limit "
        "looked at it; " + _LITERAL,
    ),
    ("request_headers", "add"): FieldMeaning(
        "route.request_headers_to_add (append_action: APPEND_IF_EXISTS_OR_ADD)",
        "a header the request already has gets a second value; " + _LITERAL,
    ),
    ("request_headers", "remove"): FieldMeaning("route.request_headers_to_remove"),
    ("response_headers", "set"): FieldMeaning(
        "route.response_headers_to_add (append_action: OVERWRITE_IF_EXISTS_OR_ADD)",
        "also on the answers Envoy makes itself for this route (503, 429, redirects, "
        "fallbacks); " + _LITERAL,
    ),
    ("response_headers", "add"): FieldMeaning(
        "route.response_headers_to_add (append_action: APPEND_IF_EXISTS_OR_ADD)",
        "also on the answers Envoy makes itself for this route; " + _LITERAL,
    ),
    ("response_headers", "remove"): FieldMeaning("route.response_headers_to_remove"),
    ("redirect", "scheme"): FieldMeaning(
        "route.redirect.scheme_redirect (+ port_redirect: 80 or 443 when no port is given)",
        "Envoy would keep the request's port; the Gateway API wants the scheme's own, so "
        "Breakwater names it, and `location` then shows it (https://host:443/...) unless "
        "`host` is given too",
    ),
    ("redirect", "host"): FieldMeaning("route.redirect.host_redirect"),
    ("redirect", "port"): FieldMeaning("route.redirect.port_redirect"),
    ("redirect", "path", "full"): FieldMeaning(
        "route.redirect.path_redirect", "the query string is kept"
    ),
    ("redirect", "path", "prefix"): FieldMeaning(
        "route.redirect.prefix_rewrite (regex_rewrite when the new prefix is /)",
        "replaces the prefix the match matched, keeping one / before the rest of the path",
    ),
    ("redirect", "status_code"): FieldMeaning(
        "route.redirect.response_code", "Breakwater's default is the Gateway API's 302; Envoy's 301"
    ),
    ("rewrite", "path", "full"): FieldMeaning(
        "route.route.regex_rewrite (^/.*$ -> the new path)",
        "the whole path is replaced and the query string kept",
    ),
    ("rewrite", "path", "prefix"): FieldMeaning(
        "route.route.prefix_rewrite (regex_rewrite when the new prefix is /)",
        "replaces the prefix the match matched, keeping one / before the rest of the path; the "
        "original path travels in x-envoy-original-path",
    ),
    ("rewrite", "host"): FieldMeaning("route.route.host_rewrite_literal"),
    ("direct_response", "status"): FieldMeaning(
        "route.direct_response.status", "Envoy answers itself; nothing reaches a backend"
    ),
    ("direct_response", "body"): FieldMeaning("route.direct_response.body.inline_string"),
}
"""What `breakwater explain` says about the fields translated here (paths under a rule)."""


def literal(value: str) -> str:
    """A header value Envoy sends as it is: `%` starts a substitution command there."""
    return value.replace("%", "%%")


def _options(changes: HeaderChanges) -> list[base_pb2.HeaderValueOption]:
    out: list[base_pb2.HeaderValueOption] = []
    for headers, action in (
        (changes.set, base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD),
        (changes.add, base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD),
    ):
        out.extend(
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key=h.name.lower(), value=literal(h.value)),
                append_action=action,
            )
            for h in headers
        )
    return out


def apply_header_changes(
    route: route_components_pb2.Route,
    request: HeaderChanges | None,
    response: HeaderChanges | None,
) -> None:
    if request is not None:
        route.request_headers_to_add.extend(_options(request))
        route.request_headers_to_remove.extend(name.lower() for name in request.remove)
    if response is not None:
        route.response_headers_to_add.extend(_options(response))
        route.response_headers_to_remove.extend(name.lower() for name in response.remove)


def _to_root(matched_prefix: str) -> regex_pb2.RegexMatchAndSubstitute:
    """`/` as the new prefix: `/old/x` becomes `/x` and `/old` becomes `/`, never `//x`."""
    return regex_pb2.RegexMatchAndSubstitute(
        pattern=regex_pb2.RegexMatcher(regex="^" + re.escape(matched_prefix.rstrip("/")) + "/*"),
        substitution="/",
    )


def prefix_replacement(
    matched_prefix: str, replacement: str
) -> tuple[str | None, regex_pb2.RegexMatchAndSubstitute | None]:
    """Envoy's `prefix_rewrite`, or a regex rewrite where that would double or lose a `/`.

    Envoy replaces the matched characters as they are: prefix `/old`
    replaced by `/new/` would turn `/old/x` into `/new//x`. The Gateway API
    keeps exactly one `/` at the seam, so a trailing `/` of the replacement
    is dropped, one of the match is put back, and a replacement of `/`
    alone needs a regex.
    """
    new = replacement.rstrip("/")
    if not new:
        return None, _to_root(matched_prefix)
    return new + ("/" if matched_prefix.endswith("/") else ""), None


def _full_path(path: str) -> regex_pb2.RegexMatchAndSubstitute:
    """The whole path, whatever it was; Envoy leaves the query string out of the match."""
    return regex_pb2.RegexMatchAndSubstitute(
        pattern=regex_pb2.RegexMatcher(regex="^/.*$"), substitution=path
    )


def apply_rewrite(
    action: route_components_pb2.RouteAction, rewrite: Rewrite, matched_prefix: str
) -> None:
    """`matched_prefix` is the match's path prefix (`/` for a match without a path)."""
    if rewrite.host is not None:
        action.host_rewrite_literal = rewrite.host
    if rewrite.path is not None:
        _rewrite_path(action, rewrite.path, matched_prefix)


def _rewrite_path(
    target: route_components_pb2.RouteAction | route_components_pb2.RedirectAction,
    path: PathModifier,
    matched_prefix: str,
) -> None:
    if path.full is not None:
        if isinstance(target, route_components_pb2.RedirectAction):
            target.path_redirect = path.full
        else:
            target.regex_rewrite.CopyFrom(_full_path(path.full))
        return
    assert path.prefix is not None
    prefix, regex = prefix_replacement(matched_prefix, path.prefix)
    if prefix is not None:
        target.prefix_rewrite = prefix
    if regex is not None:
        target.regex_rewrite.CopyFrom(regex)


def direct_response(answer: DirectResponse) -> route_components_pb2.DirectResponseAction:
    action = route_components_pb2.DirectResponseAction(status=answer.status)
    if answer.body is not None:
        action.body.inline_string = answer.body
    return action


def redirect_action(redirect: Redirect, matched_prefix: str) -> route_components_pb2.RedirectAction:
    """Every part not given keeps the request's, as in the Gateway API.

    Only the port needs help: the Gateway API sends a redirect that changes
    the scheme to that scheme's well-known port, while Envoy would keep the
    port the request came on (a gateway on :10000 would send the client to
    https on :10000). With a host given, Envoy writes no port when none is
    set, which is the well-known one; without a host, the port is named.
    """
    action = route_components_pb2.RedirectAction(
        response_code=_REDIRECT_CODES[redirect.status_code]
    )
    if redirect.scheme is not None:
        action.scheme_redirect = redirect.scheme
    if redirect.host is not None:
        action.host_redirect = redirect.host
    port = redirect.port
    if port is None and redirect.scheme is not None:
        port = _WELL_KNOWN_PORTS[redirect.scheme]
    if port is not None and not (
        redirect.host is not None
        and redirect.scheme is not None
        and port == _WELL_KNOWN_PORTS[redirect.scheme]
    ):
        action.port_redirect = port
    if redirect.path is not None:
        _rewrite_path(action, redirect.path, matched_prefix)
    return action
