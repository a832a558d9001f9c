"""Checks of Telemetry documents against what they name, each located on its line.

A Telemetry must target a declared Gateway or HTTPRoute, and send to
collectors declared as Services that speak HTTP/2 (OTLP export is gRPC). A
route's Telemetry shapes only the spans of that route: the collector, turning
tracing off and the access log belong to a gateway's connection manager.
Once merged, a gateway that traces must have a collector from somewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from breakwater.translators.documents import RawDocument, YamlPath
from breakwater.translators.model import Document
from breakwater.translators.policyset import PolicySet
from breakwater.translators.refused import Refused
from breakwater.translators.telemetry_model import Telemetry

Report = Callable[[Document, RawDocument, YamlPath, str], None]

HTTP2_PROTOCOLS = ("grpc", "http2")


def check_grpc_service(
    report: Report,
    policyset: PolicySet,
    refused: Refused,
    at: tuple[Document, RawDocument, YamlPath],
    name: str,
    what: str,
    declare: str,
    asked: str,
) -> None:
    """A Service a proxy calls over gRPC (a trace collector, the rate-limit service): declared,
    and speaking HTTP/2. `what` names its role, `declare` says how to declare it, `asked` how
    Envoy talks to it; the mistake is reported `at` the field that names it."""
    doc, raw, path = at
    service = policyset.services.get(name)
    if service is None:
        if refused.has("Service", name):
            return  # declared, with errors of its own: those are reported
        known = ", ".join(sorted(policyset.services)) or "none declared"
        report(
            doc,
            raw,
            path,
            f"{what} {name!r} is not declared; {declare} (declared services: {known})",
        )
    elif service.spec.protocol not in HTTP2_PROTOCOLS:
        report(
            doc,
            raw,
            path,
            f"{what} {name!r} has protocol {service.spec.protocol}; {asked}, which needs "
            "HTTP/2: give that Service `protocol: grpc`",
        )


def _check_collector(
    report: Report,
    policyset: PolicySet,
    refused: Refused,
    doc: Telemetry,
    raw: RawDocument,
    path: YamlPath,
    name: str,
) -> None:
    check_grpc_service(
        report,
        policyset,
        refused,
        (doc, raw, path),
        name,
        "collector service",
        "declare it as a Service with `protocol: grpc`",
        "OTLP export is gRPC",
    )


def _check_target(
    report: Report, policyset: PolicySet, refused: Refused, doc: Telemetry, raw: RawDocument
) -> None:
    ref = doc.spec.target_ref
    if ref is None:
        return
    declared: Mapping[str, Document] = (
        policyset.gateways if ref.kind == "Gateway" else policyset.routes
    )
    if ref.name not in declared and not refused.has(ref.kind, ref.name):
        plural = "gateways" if ref.kind == "Gateway" else "routes"
        known = ", ".join(sorted(declared)) or "none declared"
        report(
            doc,
            raw,
            ("spec", "targetRef", "name"),
            f"{ref.kind} {ref.name!r} is not declared; declared {plural}: {known}",
        )
    if ref.kind != "HTTPRoute":
        return
    tracing = doc.spec.tracing
    gateway_only: list[tuple[YamlPath, bool]] = [
        (("spec", "accessLog"), doc.spec.access_log is not None),
        (
            ("spec", "tracing", "openTelemetry"),
            tracing is not None and tracing.open_telemetry is not None,
        ),
        (("spec", "tracing", "disabled"), tracing is not None and tracing.disabled is not None),
    ]
    for path, given in gateway_only:
        if given:
            report(
                doc,
                raw,
                path,
                f"a Telemetry for an HTTPRoute sets only tracing.samplingPercent, "
                f"clientSamplingPercent, overallSamplingPercent and tags; move `{path[-1]}` to a "
                "Telemetry for the route's Gateway (or to one without targetRef, for every gateway)",
            )


def check_telemetry(
    report: Report,
    policyset: PolicySet,
    raws: Mapping[tuple[str, str], RawDocument],
    refused: Refused,
) -> None:
    for name in sorted(policyset.telemetry):
        doc = policyset.telemetry[name]
        raw = raws[("Telemetry", name)]
        _check_target(report, policyset, refused, doc, raw)
        tracing = doc.spec.tracing
        if tracing is not None and tracing.open_telemetry is not None:
            service = tracing.open_telemetry.service
            if service is not None:
                path: YamlPath = ("spec", "tracing", "openTelemetry", "service")
                _check_collector(report, policyset, refused, doc, raw, path, service)
        access_log = doc.spec.access_log
        for index, sink in enumerate(access_log.to or [] if access_log is not None else []):
            if sink.open_telemetry is not None:
                path = ("spec", "accessLog", "to", index, "openTelemetry", "service")
                _check_collector(
                    report, policyset, refused, doc, raw, path, sink.open_telemetry.service
                )
    for gateway in sorted(policyset.gateways):
        if not refused.may_change("Telemetry", gateway):  # a broken one may set its collector
            _check_gateway_collector(report, policyset, raws, gateway)


def _check_gateway_collector(
    report: Report,
    policyset: PolicySet,
    raws: Mapping[tuple[str, str], RawDocument],
    gateway: str,
) -> None:
    """A gateway that traces needs a collector; blame the most specific Telemetry that traces."""
    effective = policyset.effective_telemetry(gateway)
    tracing = effective.spec.tracing
    if tracing is None or tracing.disabled:
        return
    if tracing.open_telemetry is not None and tracing.open_telemetry.service is not None:
        return
    layers = policyset.telemetry_layers(gateway)
    setters = [who for path, who in effective.provenance.items() if path[0] == "tracing"] or [
        who for who, spec in layers if spec.tracing is not None
    ]
    order = [who for who, _ in layers]
    blamed = max(setters, key=order.index).partition("/")[2]
    report(
        policyset.telemetry[blamed],
        raws[("Telemetry", blamed)],
        ("spec", "tracing"),
        f"gateway {gateway!r} would trace without a collector: set "
        "tracing.openTelemetry.service to a Service with `protocol: grpc`, here or in a "
        "Telemetry without targetRef",
    )
