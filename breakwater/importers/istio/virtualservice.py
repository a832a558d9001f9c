"""An Istio VirtualService → one Breakwater HTTPRoute: hosts, gateways and one rule per HTTP route.

Rules keep Istio's order (first match wins in both). A rule none of whose
matches could be carried is left out whole: carried without its conditions
it would take every request. The destinations a rule names are returned
too, so the Services they need can be found or written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from breakwater.importers.istio import actions
from breakwater.importers.istio.checked import checked
from breakwater.importers.istio.ledger import Ledger
from breakwater.importers.istio.matches import Refusal, convert_match
from breakwater.importers.istio.model import Destination, Headers, HttpRoute, VirtualService
from breakwater.importers.istio.names import (
    MESH_GATEWAY,
    gateway_name,
    is_name,
    service_name,
    to_name,
)
from breakwater.translators.documents import YamlPath
from breakwater.translators.model import API_VERSION
from breakwater.translators.route_model import RouteRule

_RULE_FIELD_REASONS = {
    "corsPolicy": ("Breakwater has no CORS policy yet", "answer CORS in the backend"),
    "delegate": (
        "Breakwater routes are not delegated to other routes",
        "import the delegate VirtualService and merge its rules into this one by hand",
    ),
    "directResponse": (
        "Breakwater answers without a backend only with `redirect` or a `fallback`",
        "route to a small backend that gives this answer",
    ),
}

_SPEC_FIELD_REASONS = {
    "tcp": ("Breakwater routes HTTP only", "keep TCP routing outside Breakwater"),
    "tls": (
        "Breakwater routes HTTP only, not TLS passthrough by SNI",
        "terminate TLS before the gateway",
    ),
    "exportTo": (
        "Breakwater has no namespaces: a route is visible to every gateway it names",
        "name the gateways that should serve it",
    ),
}


@dataclass(frozen=True)
class ResolvedDestination:
    """A destination a rule sends to, and the port Istio gave it (for a DNS Service skeleton)."""

    service: str
    subset: str | None
    host: str
    port: int | None


@dataclass
class ConvertedRoute:
    document: dict[str, Any] | None
    targets: list[ResolvedDestination] = field(default_factory=list)
    gateways: list[str] = field(default_factory=list)


def _metadata(vs_meta: Any, ledger: Ledger, name: str) -> dict[str, Any]:
    ledger.took("metadata", "name")
    meta: dict[str, Any] = {"name": name}
    if vs_meta.labels:
        meta["labels"] = dict(vs_meta.labels)
        ledger.took("metadata", "labels")
    if vs_meta.annotations:
        meta["annotations"] = dict(vs_meta.annotations)
        ledger.took("metadata", "annotations")
    if vs_meta.namespace is not None:
        ledger.left(
            ("metadata", "namespace"),
            "Breakwater documents have no namespace: names are unique across the whole policy set",
            "import one namespace at a time, or rename documents whose names collide",
        )
    for extra in vs_meta.model_extra or {}:
        ledger.left(
            ("metadata", extra),
            "cluster bookkeeping, not policy",
            "nothing: Breakwater keeps its own revisions",
        )
    return meta


def _gateways(vs: VirtualService, ledger: Ledger, default: str) -> list[str]:
    names: list[str] = []
    for index, reference in enumerate(vs.spec.gateways):
        at: YamlPath = ("spec", "gateways", index)
        if reference == MESH_GATEWAY:
            ledger.left(
                at,
                "Breakwater has no sidecars: its proxies are gateways",
                f"the route is served on gateway {default!r} (choose another with --gateway)",
            )
            continue
        name = gateway_name(reference)
        if name is None:
            ledger.left(at, f"{reference!r} cannot name a Breakwater Gateway", "rename the gateway")
            continue
        if "/" in reference:
            ledger.note(f"gateway {reference!r} is Breakwater Gateway {name!r} (no namespaces)")
        ledger.took(*at)
        if name not in names:
            names.append(name)
    if not names:
        ledger.note(f"no Istio gateway to serve it on: served on gateway {default!r}")
        names.append(default)
    return names


def _hostnames(vs: VirtualService, ledger: Ledger) -> list[str]:
    hosts: list[str] = []
    for index, host in enumerate(vs.spec.hosts):
        ledger.took("spec", "hosts", index)
        hosts.append(host)
    return hosts or ["*"]


def _target(destination: Destination, ledger: Ledger, at: YamlPath) -> ResolvedDestination | None:
    service = service_name(destination.host)
    if service is None:
        ledger.left(
            (*at, "host"),
            f"host {destination.host!r} cannot name one Breakwater Service (wildcards cannot)",
            "route to a named host",
        )
        return None
    if destination.subset is not None and not is_name(destination.subset):
        ledger.left(
            (*at, "subset"),
            f"subset {destination.subset!r} is not a valid Breakwater name",
            "rename the subset to lowercase letters, digits and '-'",
        )
        return None
    for extra in destination.model_extra or {}:
        ledger.left(
            (*at, extra), "the importer does not know this destination field", "leave it out"
        )
    port = destination.port.number if destination.port is not None else None
    ledger.took(*at, "host")
    ledger.took(*at, "subset")
    ledger.took(*at, "port")
    return ResolvedDestination(service, destination.subset, destination.host, port)


def _destination_headers(route: HttpRoute, ledger: Ledger, at: YamlPath) -> Headers | None:
    """Headers on the only destination mean the same on the rule; on one of several, they do not."""
    per_destination = [(i, d.headers) for i, d in enumerate(route.route) if d.headers is not None]
    if not per_destination:
        return None
    if len(route.route) == 1:
        ledger.note("headers of the rule's only destination were moved onto the rule")
        return per_destination[0][1]
    for index, _ in per_destination:
        ledger.left(
            (*at, "route", index, "headers"),
            "Breakwater changes headers per rule, not per backend of a split",
            "change the headers in the backend, or give that backend a rule of its own",
        )
    return None


def _headers(route: HttpRoute, rule: dict[str, Any], ledger: Ledger, at: YamlPath) -> None:
    sources: list[tuple[Headers, YamlPath]] = []
    if route.headers is not None:
        sources.append((route.headers, (*at, "headers")))
    moved = _destination_headers(route, ledger, at)
    if moved is not None:
        sources.append((moved, (*at, "route", 0, "headers")))
    for headers, where in sources:
        for direction, key in (("request", "requestHeaders"), ("response", "responseHeaders")):
            ops = getattr(headers, direction)
            if ops is None:
                continue
            if key in rule:
                ledger.left(
                    (*where, direction),
                    "the rule and its only destination both change headers, and a Breakwater "
                    "rule has one set of changes",
                    "merge the two header changes by hand",
                )
                continue
            changes = actions.header_changes(ops, ledger, (*where, direction))
            if changes is not None:
                rule[key] = changes
        for extra in headers.model_extra or {}:
            ledger.left((*where, extra), "Istio headers are `request` and `response`", "use those")


def _matches(
    route: HttpRoute, ledger: Ledger, at: YamlPath
) -> tuple[list[dict[str, Any]], set[str]] | None:
    """The carried matches and their path kinds; None when the rule had matches and none carried."""
    carried: list[dict[str, Any]] = []
    for index, match in enumerate(route.match):
        where: YamlPath = (*at, "match", index)
        if match.name is not None:
            ledger.left(
                (*where, "name"),
                "Breakwater names rules, not their matches",
                "name the rule instead",
            )
        converted = convert_match(match, where)
        if isinstance(converted, Refusal):
            ledger.left(
                converted.path, converted.reason, "match on exact values, or split the rule by hand"
            )
            ledger.left(
                where,
                "this match was left out whole: without one of its conditions it would take "
                "requests it was written to refuse",
                "rewrite the match with exact values or prefixes",
            )
            continue
        for key in ("uri", "scheme", "method", "authority", "headers", "queryParams"):
            ledger.took(*where, key)
        carried.append(converted)
    if route.match and not carried:
        ledger.left(
            at,
            "none of this rule's matches could be carried, so the rule was left out: without "
            "them it would take every request",
            "write the rule by hand with matches Breakwater has",
        )
        return None
    kinds = {next(iter(m["path"])) for m in carried if "path" in m}
    if any("path" not in m for m in carried):
        kinds.add("prefix")  # no path condition: every path, as prefix `/`
    return carried, kinds


def _backends(
    route: HttpRoute, ledger: Ledger, at: YamlPath
) -> list[tuple[dict[str, Any], ResolvedDestination]]:
    out: list[tuple[dict[str, Any], ResolvedDestination]] = []
    single = len(route.route) == 1
    for index, destination in enumerate(route.route):
        where: YamlPath = (*at, "route", index)
        target = _target(destination.destination, ledger, (*where, "destination"))
        if target is None:
            continue
        for extra in destination.model_extra or {}:
            ledger.left((*where, extra), "the importer does not know this field", "leave it out")
        backend: dict[str, Any] = {"service": target.service}
        if target.subset is not None:
            backend["subset"] = target.subset
        if destination.weight is not None:
            backend["weight"] = destination.weight
        elif not single:
            backend["weight"] = 0  # Istio: an unweighted destination of a split gets nothing
        ledger.took(*where, "weight")
        out.append((backend, target))
    return out


def convert_rule(
    route: HttpRoute, ledger: Ledger, at: YamlPath
) -> tuple[dict[str, Any], list[ResolvedDestination]] | None:
    """One Istio HTTP route → one Breakwater rule, checked; None when it cannot be carried."""
    for key, (reason, instead) in _RULE_FIELD_REASONS.items():
        if ledger.present(*at, key):
            ledger.left((*at, key), reason, instead)
    matched = _matches(route, ledger, at)
    if matched is None:
        return None
    matches, path_kinds = matched
    rule: dict[str, Any] = {}
    if route.name is not None:
        name = route.name if is_name(route.name) else to_name(route.name)
        if name is None:
            ledger.left((*at, "name"), f"{route.name!r} cannot be a rule name", "rename it")
        else:
            rule["name"] = name
            ledger.took(*at, "name")
    if matches:
        rule["matches"] = matches
    backends = _backends(route, ledger, at)
    if len(backends) < len(route.route):
        ledger.left(
            at,
            "the rule was left out whole: one of its destinations could not be carried, and "
            "without it the others would take its share",
            "route to named hosts, then import again",
        )
        return None
    if backends:
        rule["backends"] = [b for b, _ in backends]
    if route.redirect is not None:
        redirect = actions.redirect(route.redirect, ledger, (*at, "redirect"))
        if redirect is not None:
            rule["redirect"] = redirect
    if route.rewrite is not None:
        rewrite = actions.rewrite(route.rewrite, path_kinds, ledger, (*at, "rewrite"))
        if rewrite is not None:
            rule["rewrite"] = rewrite
    if route.timeout is not None:
        timeout = actions.timeout(route.timeout, ledger, (*at, "timeout"))
        if timeout is not None:
            rule["timeout"] = timeout
    if route.retries is not None:
        retry = actions.retries(route.retries, ledger, (*at, "retries"))
        if retry is not None:
            rule["retry"] = retry
    if route.fault is not None:
        fault = actions.fault(route.fault, ledger, (*at, "fault"))
        if fault is not None:
            rule["fault"] = fault
    mirror = actions.mirror(route, ledger, at)
    mirrored: list[ResolvedDestination] = []
    if mirror is not None and any(
        (b["service"], b.get("subset")) == (mirror["service"], mirror.get("subset"))
        for b, _ in backends
    ):
        ledger.left(
            (*at, "mirrors", 0) if route.mirror is None else (*at, "mirror"),
            "the mirror is also a backend of the rule, so it would get those requests twice",
            "mirror to another service or subset",
        )
        mirror = None
    if mirror is not None:
        rule["mirror"] = mirror
        source = route.mirror or route.mirrors[0].destination
        mirrored.append(
            ResolvedDestination(mirror["service"], mirror.get("subset"), source.host, None)
        )
    _headers(route, rule, ledger, at)
    if "backends" not in rule and "redirect" not in rule:
        ledger.left(
            at,
            "the rule neither routes nor redirects anything Breakwater can carry",
            "write it by hand",
        )
        return None
    if checked(RouteRule, rule, ledger, at, "write the rule by hand") is None:
        return None
    return rule, [t for _, t in backends] + mirrored


def convert_virtual_service(
    vs: VirtualService, ledger: Ledger, default_gateway: str
) -> ConvertedRoute:
    ledger.took("apiVersion")
    ledger.took("kind")
    name = vs.metadata.name if is_name(vs.metadata.name) else to_name(vs.metadata.name)
    if name is None:
        ledger.left(
            ("metadata", "name"), f"{vs.metadata.name!r} cannot be a Breakwater name", "rename it"
        )
        return ConvertedRoute(None)
    if name != vs.metadata.name:
        ledger.note(f"written as HTTPRoute {name!r}")
    metadata = _metadata(vs.metadata, ledger, name)
    for key, (reason, instead) in _SPEC_FIELD_REASONS.items():
        if ledger.present("spec", key):
            ledger.left(("spec", key), reason, instead)
    gateways = _gateways(vs, ledger, default_gateway)
    hostnames = _hostnames(vs, ledger)
    rules: list[dict[str, Any]] = []
    targets: list[ResolvedDestination] = []
    for index, route in enumerate(vs.spec.http):
        converted = convert_rule(route, ledger, ("spec", "http", index))
        if converted is not None:
            rules.append(converted[0])
            targets.extend(converted[1])
    if not rules:
        ledger.note("no rule could be carried, so no HTTPRoute was written")
        return ConvertedRoute(None, targets, gateways)
    document = {
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": {"gateways": gateways, "hostnames": hostnames, "rules": rules},
    }
    return ConvertedRoute(document, targets, gateways)


__all__ = ["ConvertedRoute", "ResolvedDestination", "convert_virtual_service"]
