"""The upstreams a policy directory names: one per endpoint of each HTTP Service, on its port,
and an OTLP sink on each endpoint of a collector that a Telemetry exports to.

`python -m breakwater.devtools.upstream --policies deploy/examples` starts
what the examples route and export to, so that a reader can send a request
through a real Envoy without writing a backend first (the Getting started
page does exactly that), and the proxies' spans and access logs reach a
collector instead of failing. The documents are read as plain YAML rather
than through the policy models: only the endpoints and the collectors'
names matter here, and an example that does not validate is `breakwater
validate`'s to report, not this tool's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVED_PROTOCOLS = ("http",)
"""The upstream speaks HTTP/1.1 only: `http2` and `grpc` Services are listed as left out,
unless a Telemetry exports to them (`SINK_PROTOCOLS`)."""
SINK_PROTOCOLS = ("grpc", "http2")
"""A collector's protocols, as validation accepts them: its endpoints get an OTLP sink."""


@dataclass(frozen=True)
class Endpoint:
    """One upstream to start: who it says it is, and where it listens."""

    service: str
    subset: str
    address: str
    port: int
    otlp: bool = False
    """An OTLP/gRPC sink for a Telemetry's collector, not an HTTP upstream."""

    @property
    def instance(self) -> str:
        """The name in every answer: without the port, so that answers read the same on any port."""
        return self.service if self.subset == "default" else f"{self.service}-{self.subset}"


@dataclass(frozen=True)
class Skipped:
    service: str
    reason: str


def _subset_of(labels: Mapping[str, Any], subsets: Iterable[Mapping[str, Any]]) -> str:
    """The first subset whose labels the endpoint carries, as the control plane selects them."""
    for subset in subsets:
        wanted = subset.get("labels") or {}
        if wanted and all(labels.get(key) == value for key, value in wanted.items()):
            return str(subset.get("name", "default"))
    return "default"


def _documents(directory: Path, kind: str) -> Iterable[Mapping[str, Any]]:
    for path in sorted(directory.glob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == kind:
                api_version = str(document.get("apiVersion", ""))
                if api_version.startswith("breakwater.dev/"):
                    yield document


def _collector(place: Any) -> str | None:
    """The Service an `openTelemetry: {service: ...}` names, if `place` holds one."""
    if not isinstance(place, dict) or not isinstance(place.get("openTelemetry"), dict):
        return None
    service = place["openTelemetry"].get("service")
    return str(service) if service is not None else None


def collectors_of(directory: Path) -> set[str]:
    """The Services the directory's Telemetries export spans or access logs to."""
    names: set[str] = set()
    for document in _documents(directory, "Telemetry"):
        spec = document.get("spec") or {}
        access_log = spec.get("accessLog")
        sinks = (access_log.get("to") or []) if isinstance(access_log, dict) else []
        for place in [spec.get("tracing"), *sinks]:
            if (name := _collector(place)) is not None:
                names.add(name)
    return names


def endpoints_of(directory: Path) -> tuple[list[Endpoint], list[Skipped]]:
    """Every endpoint of the directory's HTTP Services and collectors, and the Services left
    out and why."""
    collectors = collectors_of(directory)
    found: list[Endpoint] = []
    skipped: list[Skipped] = []
    for document in _documents(directory, "Service"):
        name = str(document.get("metadata", {}).get("name", "?"))
        spec = document.get("spec") or {}
        protocol = str(spec.get("protocol", "http"))
        endpoints = spec.get("endpoints") or []
        otlp = name in collectors and protocol in SINK_PROTOCOLS
        if protocol not in SERVED_PROTOCOLS and not otlp:
            skipped.append(Skipped(name, f"protocol {protocol}: this upstream speaks HTTP/1.1"))
            continue
        if not endpoints:
            skipped.append(Skipped(name, "no endpoints (a dns Service)"))
            continue
        for endpoint in endpoints:
            subset = _subset_of(endpoint.get("labels") or {}, spec.get("subsets") or [])
            address, port = str(endpoint["address"]), int(endpoint["port"])
            found.append(Endpoint(name, subset, address, port, otlp))
    return found, skipped


__all__ = [
    "SERVED_PROTOCOLS",
    "SINK_PROTOCOLS",
    "Endpoint",
    "Skipped",
    "collectors_of",
    "endpoints_of",
]
