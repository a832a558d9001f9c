"""Fallback → Envoy's custom response filter (`envoy.filters.http.custom_response`) per route.

The filter looks at each response on its way back and, when a condition
holds, answers with the fallback instead. It is chosen over the connection
manager's `local_reply_config` because that one lives on the listener (one
per gateway, pushed over LDS, so a policy edit would drain connections), and
it only ever sees Envoy's own answers: a backend's 500 never reaches it.
Envoy marks the custom response filter as work in progress; `explain` says
so.

Each condition is a CEL expression over what Envoy knows of the response,
so that the fallback answers exactly the failures asked for, and not, say,
an abort a fault drill injects on purpose (also a 503 that Envoy makes):

- `no-healthy-host`: Envoy found no healthy host (UH) or could not connect
  to the one it picked (UF), retries included;
- `overflow`: a bulkhead limit refused the request (UO);
- `timeout`: the request or its last attempt timed out (UT);
- `upstream-5xx`: a backend answered 5xx, or reset the request before
  answering (UR, UC).
"""

from __future__ import annotations

from cel.expr import syntax_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.custom_response.v3 import custom_response_pb2
from envoy.extensions.http.custom_response.local_response_policy.v3 import (
    local_response_policy_pb2,
)
from google.protobuf import wrappers_pb2
from xds.core.v3 import extension_pb2
from xds.type.matcher.v3 import cel_pb2 as cel_matcher_pb2
from xds.type.matcher.v3 import http_inputs_pb2, matcher_pb2
from xds.type.v3 import cel_pb2

from breakwater.translators.envoy.cel import CelBuilder
from breakwater.translators.envoy.clusters import pack_any
from breakwater.translators.envoy.headers import literal
from breakwater.translators.explain.meanings import FieldMeaning, Meanings
from breakwater.translators.traffic_model import Fallback, FallbackCondition

_IN_PROGRESS = (
    "Envoy marks envoy.filters.http.custom_response as work in progress (not covered by its "
    "security policy, may change between releases) and logs a warning when it loads"
)

EXPLAIN: Meanings = {
    ("fallback", "response", "status"): FieldMeaning(
        "route.typed_per_filter_config[custom_response]: local_response_policy.status_code",
        "left out, the client gets the failure's own status (503, 504, the backend's 5xx) with "
        "the fallback body; " + _IN_PROGRESS,
    ),
    ("fallback", "response", "body"): FieldMeaning(
        "route.typed_per_filter_config[custom_response]: local_response_policy.body",
        "sent as written; a failover target that answers comes first, the fallback only "
        "answers when it fails too",
    ),
    ("fallback", "response", "content_type"): FieldMeaning(
        "route.typed_per_filter_config[custom_response]: local_response_policy"
        ".response_headers_to_add[content-type]",
        "Envoy's own replies say text/plain when this is left out",
    ),
    ("fallback", "response", "headers"): FieldMeaning(
        "route.typed_per_filter_config[custom_response]: local_response_policy"
        ".response_headers_to_add",
        "the fallback replaces the failure's answer whole, its headers too (x-envoy-overloaded "
        "is gone): a header of your own tells clients which answer they got",
    ),
    ("fallback", "on"): FieldMeaning(
        "route.typed_per_filter_config[custom_response]: a CEL matcher over response.flags "
        "and response.code_details",
        "no-healthy-host = no healthy host or no connection (UH, UF); overflow = a bulkhead "
        "refused it (UO); timeout = the request or its last try timed out (UT); upstream-5xx = a "
        "backend answered 5xx or reset before answering; an injected fault abort is none of them",
    ),
}
"""What `breakwater explain` says about the fields translated here."""

_CONTENT_TYPE = "content-type"
_NO_HEALTHY_UPSTREAM = 1
_UPSTREAM_REQUEST_TIMEOUT = 2
_UPSTREAM_REMOTE_RESET = 4
_UPSTREAM_CONNECTION_FAILURE = 5
_UPSTREAM_CONNECTION_TERMINATION = 6
_UPSTREAM_OVERFLOW = 7
"""Bits of Envoy's response flags (`StreamInfo::CoreResponseFlag`), as CEL's `response.flags`."""


def _condition(cel: CelBuilder, condition: FallbackCondition) -> syntax_pb2.Expr:
    if condition == "no-healthy-host":
        return cel.any_of(
            cel.response_flag(_NO_HEALTHY_UPSTREAM), cel.response_flag(_UPSTREAM_CONNECTION_FAILURE)
        )
    if condition == "overflow":
        return cel.response_flag(_UPSTREAM_OVERFLOW)
    if condition == "timeout":
        return cel.response_flag(_UPSTREAM_REQUEST_TIMEOUT)
    answered_5xx = cel.all_of(
        cel.compare(">=", cel.response("code"), cel.integer(500)),
        cel.compare("==", cel.response("code_details"), cel.string("via_upstream")),
    )
    return cel.any_of(
        answered_5xx,
        cel.response_flag(_UPSTREAM_REMOTE_RESET),
        cel.response_flag(_UPSTREAM_CONNECTION_TERMINATION),
    )


def _predicate(conditions: list[FallbackCondition]) -> matcher_pb2.Matcher.MatcherList.Predicate:
    cel = CelBuilder()
    expression = cel.any_of(*(_condition(cel, c) for c in conditions))
    matcher = cel_matcher_pb2.CelMatcher(
        expr_match=cel_pb2.CelExpression(cel_expr_parsed=cel.parsed(expression)),
        description="breakwater fallback on " + ", ".join(conditions),
    )
    return matcher_pb2.Matcher.MatcherList.Predicate(
        single_predicate=matcher_pb2.Matcher.MatcherList.Predicate.SinglePredicate(
            input=extension_pb2.TypedExtensionConfig(
                name="response",
                typed_config=pack_any(http_inputs_pb2.HttpAttributesCelMatchInput()),
            ),
            custom_match=extension_pb2.TypedExtensionConfig(
                name="conditions", typed_config=pack_any(matcher)
            ),
        )
    )


def _set(name: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=name.lower(), value=literal(value)),
        append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def local_response(fallback: Fallback) -> local_response_policy_pb2.LocalResponsePolicy:
    response = fallback.response
    policy = local_response_policy_pb2.LocalResponsePolicy()
    if response.body is not None:
        policy.body.inline_string = response.body
    if response.status is not None:
        policy.status_code.CopyFrom(wrappers_pb2.UInt32Value(value=response.status))
    if response.content_type is not None:
        policy.response_headers_to_add.append(_set(_CONTENT_TYPE, response.content_type))
    policy.response_headers_to_add.extend(
        _set(name, value) for name, value in sorted(response.headers.items())
    )
    return policy


def custom_response(fallback: Fallback) -> custom_response_pb2.CustomResponse:
    """One matcher: the fallback's conditions, any of them, answered with its response."""
    action = extension_pb2.TypedExtensionConfig(
        name="fallback", typed_config=pack_any(local_response(fallback))
    )
    matchers = matcher_pb2.Matcher.MatcherList(
        matchers=[
            matcher_pb2.Matcher.MatcherList.FieldMatcher(
                predicate=_predicate(list(fallback.on)),
                on_match=matcher_pb2.Matcher.OnMatch(action=action),
            )
        ]
    )
    return custom_response_pb2.CustomResponse(
        custom_response_matcher=matcher_pb2.Matcher(matcher_list=matchers)
    )
