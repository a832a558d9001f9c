"""A header match as users write it → Envoy's HeaderMatcher.

Route matches, rollout header routes and fault drills all select requests
by headers, and must mean the same by `value`, `regex` and `present`.
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from breakwater.translators.model_parts import HeaderMatch


def regex_matcher(pattern: str) -> string_pb2.StringMatcher:
    """The whole value must match `pattern` (RE2; Envoy's only regex engine)."""
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))


def header_matcher(header: HeaderMatch) -> route_components_pb2.HeaderMatcher:
    """`value` is an exact match; `present: false` matches requests *without* the header."""
    matcher = route_components_pb2.HeaderMatcher(name=header.name)
    if header.value is not None:
        matcher.string_match.CopyFrom(string_pb2.StringMatcher(exact=header.value))
    elif header.regex is not None:
        matcher.string_match.CopyFrom(regex_matcher(header.regex))
    elif header.present is not None:
        matcher.present_match = header.present
    return matcher
