"""Endpoints drained through the API, laid over the endpoints of the YAML.

A rolling update or an incident takes one instance out of rotation without
editing the policy files: new requests avoid it, the ones in flight finish.
A drain names a service and one of its endpoints as `ADDRESS:PORT`. It is
checked against the served YAML when written (an endpoint the service does
not have is refused, with the ones it has), and applied only while the YAML
still lists that endpoint: a drain of an instance that the files have since
removed stays recorded, harmless, until it is undrained.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from breakwater.translators.model import Service
from breakwater.translators.names import endpoint_key
from breakwater.translators.policyset import DrainedEndpoints, PolicySet


class DrainError(ValueError):
    """An endpoint that cannot be drained as written; the message says what is allowed."""


class EndpointNotFound(DrainError):
    """The service, or the endpoint of the service, does not exist."""


def parse_endpoint(text: str) -> str:
    """`ADDRESS:PORT` (IPv6 as `[ADDRESS]:PORT`) in its canonical spelling, or a DrainError."""
    host, sep, port = text.strip().rpartition(":")
    address = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(address)
        number = int(port)
    except ValueError:
        raise DrainError(
            f"{text!r} is not ADDRESS:PORT; write the endpoint as the Service lists it, "
            "e.g. 10.0.0.7:8080 or [fd00::7]:8080"
        ) from None
    if not sep or not 1 <= number <= 65535:
        raise DrainError(f"{text!r} has no port from 1 to 65535; write it as ADDRESS:PORT")
    return endpoint_key(address, number)


def service_endpoints(service: Service) -> list[str]:
    """A service's endpoints as `ADDRESS:PORT`, in the order the YAML declares them."""
    return [endpoint_key(e.address, e.port) for e in service.spec.endpoints]


def resolve_service(policyset: PolicySet, name: str) -> Service:
    service = policyset.services.get(name)
    if service is None:
        known = ", ".join(sorted(policyset.services)) or "none"
        raise EndpointNotFound(f"Service {name!r} is not declared; declared services: {known}")
    if service.spec.dns is not None:
        raise EndpointNotFound(
            f"Service {name!r} is reached through DNS ({service.spec.dns.name}); Envoy resolves "
            "its hosts itself, so it has no endpoints to drain: list them under `endpoints`"
        )
    return service


def check_endpoint(policyset: PolicySet, service: str, endpoint: str) -> str:
    """The canonical endpoint, if the service has it; otherwise a sentence listing its endpoints."""
    key = parse_endpoint(endpoint)
    listed = service_endpoints(resolve_service(policyset, service))
    if key not in listed:
        raise EndpointNotFound(
            f"Service {service!r} has no endpoint {key}; its endpoints: {', '.join(listed)}"
        )
    return key


def applied_drains(policyset: PolicySet, drains: Iterable[tuple[str, str]]) -> DrainedEndpoints:
    """The drains, (service, endpoint), that the YAML's endpoints still fit, by service."""
    by_service: dict[str, set[str]] = {}
    for service, endpoint in drains:
        found = policyset.services.get(service)
        if found is not None and found.spec.dns is None and endpoint in service_endpoints(found):
            by_service.setdefault(service, set()).add(endpoint)
    return {service: frozenset(keys) for service, keys in sorted(by_service.items())}
