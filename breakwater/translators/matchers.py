"""A header match as users write it → Envoy's HeaderMatcher.

Route matches, rollout header routes and fault drills all select requests
by headers, and must mean the same by `value` and `present`.
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2
from envoy.type.matcher.v3 import string_pb2

from breakwater.translators.model_parts import HeaderMatch


def header_matcher(header: HeaderMatch) -> route_components_pb2.HeaderMatcher:
    """`value` is an exact match; `present: false` matches requests *without* the header."""
    matcher = route_components_pb2.HeaderMatcher(name=header.name)
    if header.value is not None:
        matcher.string_match.CopyFrom(string_pb2.StringMatcher(exact=header.value))
    elif header.present is not None:
        matcher.present_match = header.present
    return matcher
