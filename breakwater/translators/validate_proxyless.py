"""Checks of what proxyless gRPC clients are served: mesh routes and the policies they get.

A route attached to a Service (`spec.services`, the Gateway API's mesh
profile) must name a declared Service that is served to proxyless clients.
A policy field that gRPC's xDS client cannot carry out (`proxyless.Gap`,
refused) is an error located on the document that set it, when the merged
policy of a service declared for proxyless clients (`proxyless: true`, or a
mesh route attached; or of one of its subsets) holds it; a mesh route's own
rule fields likewise. Fields gRPC merely ignores are not errors: the
policy's status says they are not applied on the proxyless clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from breakwater.translators.documents import RawDocument, YamlPath
from breakwater.translators.model import Document
from breakwater.translators.policyset import Effective, PolicySet
from breakwater.translators.proxyless import policy_gaps, rule_gaps
from breakwater.translators.refused import Refused

Report = Callable[[Document, RawDocument, YamlPath, str, str], None]


def check_proxyless(
    report: Report,
    policyset: PolicySet,
    raws: Mapping[tuple[str, str], RawDocument],
    refused: Refused,
) -> None:
    services = policyset.services
    for name, route in policyset.routes.items():
        raw = raws[("HTTPRoute", name)]
        for index, service_name in enumerate(route.spec.services):
            service = services.get(service_name)
            path: YamlPath = ("spec", "services", index)
            if service is None:
                if not refused.has("Service", service_name):
                    known = ", ".join(sorted(services)) or "none declared"
                    report(
                        route,
                        raw,
                        path,
                        f"service {service_name!r} is not declared; declared services: {known}",
                        "",
                    )
            elif not service.spec.served_proxyless:
                report(
                    route,
                    raw,
                    path,
                    f"service {service_name!r} is not served to proxyless gRPC clients, so a "
                    "route attached to it steers no call: give the Service `protocol: grpc` "
                    "and `endpoints` (and no `proxyless: false`)",
                    "",
                )
        if not route.spec.services:
            continue
        for r_index, rule in enumerate(route.spec.rules):
            for gap in rule_gaps(rule):
                if gap.path == ("directResponse",) and raw.origin is not None:
                    continue  # a Gateway API rule whose backends did not resolve: its status says
                if gap.verdict == "refused":
                    service_name = route.spec.services[0]
                    report(
                        route,
                        raw,
                        ("spec", "rules", r_index, *gap.path),
                        gap.sentence(service_name),
                        "",
                    )
    for name in sorted(declared_proxyless(policyset)):
        service = services.get(name)
        if service is None or refused.may_change("ResiliencePolicy", name):
            continue
        for subset in [None, *(s.name for s in service.spec.subsets)]:
            where = f"service {name}" + (f" subset {subset}" if subset else "")
            try:
                effective = policyset.effective_for_cluster(name, subset)
            except ValueError:
                continue  # a merge that fails is reported by the merge checks
            _check_effective(report, policyset, raws, effective, name, where)


def declared_proxyless(policyset: PolicySet) -> set[str]:
    """Services declared for proxyless clients: `proxyless: true`, or a mesh route attached."""
    declared = {name for name, s in policyset.services.items() if s.spec.proxyless}
    for route in policyset.routes.values():
        declared.update(s for s in route.spec.services if s in policyset.services)
    return {name for name in declared if policyset.services[name].spec.served_proxyless}


def _check_effective(
    report: Report,
    policyset: PolicySet,
    raws: Mapping[tuple[str, str], RawDocument],
    effective: Effective,
    service: str,
    where: str,
) -> None:
    """Each refused field, on the policy that set it (the most specific writer)."""
    for gap in policy_gaps(effective.spec):
        if gap.verdict != "refused":
            continue
        who = _setter_of(effective, gap.path)
        kind, _, name = who.partition("/")
        raw = raws.get((kind, name))
        doc = policyset.policies.get(name)
        if raw is None or doc is None:
            continue
        report(doc, raw, ("spec", *gap.path), gap.sentence(service), where)


def _setter_of(effective: Effective, path: tuple[str | int, ...]) -> str:
    """Who set a field (camelCase path) or anything under it."""
    snake = tuple(_snake(str(part)) for part in path)
    for field, who in effective.provenance.items():
        if field[: len(snake)] == snake or snake[: len(field)] == field:
            return who
    return ""


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


__all__ = ["check_proxyless", "declared_proxyless"]
