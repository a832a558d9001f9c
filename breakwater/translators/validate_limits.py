"""Checks that span documents for global rate limits: who counts them, and where.

A `rateLimit.global` is counted by the rate-limit service its gateway
names (`rateLimitService`): a limit on a gateway without one would never be
counted, and a service that is not declared, or does not speak gRPC, would
make Envoy refuse the whole listener. Each mistake is reported on the
document to edit.
"""

from __future__ import annotations

from collections.abc import Mapping

from breakwater.translators.documents import RawDocument, YamlPath
from breakwater.translators.model import Gateway
from breakwater.translators.policyset import PolicySet
from breakwater.translators.refused import Refused
from breakwater.translators.route_model import HTTPRoute
from breakwater.translators.traffic_model import RateLimit
from breakwater.translators.validate_telemetry import Report, check_grpc_service

SERVICE_FIELD: YamlPath = ("spec", "rateLimitService")


def _has_global(limit: RateLimit | None) -> bool:
    return limit is not None and limit.global_ is not None


def _check_service(
    report: Report, policyset: PolicySet, refused: Refused, gateway: Gateway, raw: RawDocument
) -> None:
    name = gateway.spec.rate_limit_service
    if name is None:
        return
    check_grpc_service(
        report,
        policyset,
        refused,
        (gateway, raw, SERVICE_FIELD),
        name,
        "rate-limit service",
        "declare the Service that runs Envoy's rate-limit service, with `protocol: grpc`",
        "Envoy asks it over gRPC",
    )


def _missing_service(gateway: str) -> str:
    return (
        f"gateway {gateway!r} names no `rateLimitService`, so nothing would count this global "
        "limit: add `rateLimitService: NAME` (the Service that runs Envoy's rate-limit service) "
        "to the Gateway, or use `requests` and `per` for a limit in each proxy"
    )


def check_route_limits(
    report: Report,
    gateways: Mapping[str, Gateway],
    route: HTTPRoute,
    raw: RawDocument,
) -> None:
    lacking = [
        name
        for name in route.spec.gateways
        if name in gateways and gateways[name].spec.rate_limit_service is None
    ]
    if not lacking:
        return
    if _has_global(route.spec.rate_limit):
        report(route, raw, ("spec", "rateLimit", "global"), _missing_service(lacking[0]))
    for index, rule in enumerate(route.spec.rules):
        if _has_global(rule.rate_limit):
            path: YamlPath = ("spec", "rules", index, "rateLimit", "global")
            report(route, raw, path, _missing_service(lacking[0]))


def check_global_limits(
    report: Report,
    policyset: PolicySet,
    raws: Mapping[tuple[str, str], RawDocument],
    refused: Refused,
) -> None:
    for name in sorted(policyset.gateways):
        gateway = policyset.gateways[name]
        raw = raws[("Gateway", name)]
        _check_service(report, policyset, refused, gateway, raw)
        if _has_global(gateway.spec.rate_limit) and gateway.spec.rate_limit_service is None:
            report(gateway, raw, ("spec", "rateLimit", "global"), _missing_service(name))
    for name in sorted(policyset.routes):
        check_route_limits(
            report, policyset.gateways, policyset.routes[name], raws[("HTTPRoute", name)]
        )
