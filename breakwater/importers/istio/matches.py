"""Istio's HTTPMatchRequest → a Breakwater route match, or the reason it cannot be one.

A match is carried whole or not at all: a match that lost one of its
conditions would take requests it was written to refuse. Method, authority
and scheme become matches on Envoy's pseudo-headers (`:method`,
`:authority`, `:scheme`), which Envoy's header matcher reads like any header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from breakwater.importers.istio.model import MatchRequest, StringMatch
from breakwater.translators.documents import YamlPath

PSEUDO_HEADERS = {"method": ":method", "authority": ":authority", "scheme": ":scheme"}

ONLY_EXACT = "Breakwater matches headers and query parameters by exact value or presence only"

_MATCH_FIELD_REASONS = {
    "ignoreUriCase": "Breakwater's path matches are case-sensitive",
    "withoutHeaders": "Breakwater has no negated header match except `present: false`",
    "port": "a Breakwater route is bound to its Gateway's port, not to a port per match",
    "sourceLabels": "Breakwater proxies are gateways, not sidecars with workload labels",
    "sourceNamespace": "Breakwater proxies are gateways, not sidecars in a namespace",
    "gateways": "Breakwater binds a whole route to gateways, not one match",
    "statPrefix": "Breakwater names Envoy's stats after routes and rules itself",
}


@dataclass(frozen=True)
class Refusal:
    """Why a match cannot be carried: the field at fault and the reason."""

    path: YamlPath
    reason: str


def _kind(match: StringMatch) -> str | None:
    given = [k for k in ("exact", "prefix", "regex") if getattr(match, k) is not None]
    return given[0] if len(given) == 1 else None


def _path(match: StringMatch, at: YamlPath) -> dict[str, str] | Refusal:
    kind = _kind(match)
    if kind == "exact" and match.exact is not None and match.exact.startswith("/"):
        return {"exact": match.exact}
    if kind == "prefix" and match.prefix is not None and match.prefix.startswith("/"):
        return {"prefix": match.prefix}
    if kind == "regex":
        return Refusal((*at, "regex"), "Breakwater's path matches are exact or by prefix, no regex")
    return Refusal(at, "a path match needs one of `exact` or `prefix`, starting with /")


def _value(name: str, match: StringMatch, at: YamlPath) -> dict[str, Any] | Refusal:
    if match.model_extra:
        extra = next(iter(match.model_extra))
        return Refusal((*at, extra), f"{extra!r} is not an Istio string match")
    kind = _kind(match)
    if kind is None and all(getattr(match, k) is None for k in ("exact", "prefix", "regex")):
        return {"name": name, "present": True}  # Istio: an empty match means "present"
    if kind == "exact" and match.exact is not None:
        return {"name": name, "value": match.exact}
    return Refusal((*at, kind or "exact"), f"{ONLY_EXACT}, not by {kind or 'several kinds'}")


def convert_match(match: MatchRequest, at: YamlPath) -> dict[str, Any] | Refusal:
    """The Breakwater match, or the first condition that cannot be carried."""
    for extra in match.model_extra or {}:
        reason = _MATCH_FIELD_REASONS.get(extra, "the importer does not know this match field")
        return Refusal((*at, extra), reason)
    out: dict[str, Any] = {}
    if match.uri is not None:
        path = _path(match.uri, (*at, "uri"))
        if isinstance(path, Refusal):
            return path
        out["path"] = path
    headers: list[dict[str, Any]] = []
    for field, pseudo in PSEUDO_HEADERS.items():
        value = getattr(match, field)
        if value is not None:
            header = _value(pseudo, value, (*at, field))
            if isinstance(header, Refusal):
                return header
            headers.append(header)
    for name, value in match.headers.items():
        header = _value(name, value, (*at, "headers", name))
        if isinstance(header, Refusal):
            return header
        headers.append(header)
    if headers:
        out["headers"] = headers
    params: list[dict[str, Any]] = []
    for name, value in match.query_params.items():
        param = _value(name, value, (*at, "queryParams", name))
        if isinstance(param, Refusal):
            return param
        if "present" in param:
            return Refusal(
                (*at, "queryParams", name),
                "Breakwater matches query parameters by exact value only",
            )
        params.append(param)
    if params:
        out["queryParams"] = params
    return out


__all__ = ["PSEUDO_HEADERS", "Refusal", "convert_match"]
