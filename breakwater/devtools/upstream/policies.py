"""The upstreams a policy directory names: one per endpoint of each HTTP Service, on its port.

`python -m breakwater.devtools.upstream --policies deploy/examples` starts
what the examples route to, so that a reader can send a request through a
real Envoy without writing a backend first (the Getting started page does
exactly that). The Services are read as plain YAML rather than through the
policy models: only their endpoints matter here, and an example that does not
validate is `breakwater validate`'s to report, not this tool's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVED_PROTOCOLS = ("http",)
"""The upstream speaks HTTP/1.1 only: `http2` and `grpc` Services are listed as left out."""


@dataclass(frozen=True)
class Endpoint:
    """One upstream to start: who it says it is, and where it listens."""

    service: str
    subset: str
    address: str
    port: int

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


def _services(directory: Path) -> Iterable[Mapping[str, Any]]:
    for path in sorted(directory.glob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "Service":
                api_version = str(document.get("apiVersion", ""))
                if api_version.startswith("breakwater.dev/"):
                    yield document


def endpoints_of(directory: Path) -> tuple[list[Endpoint], list[Skipped]]:
    """Every endpoint of the directory's HTTP Services, and the Services left out and why."""
    found: list[Endpoint] = []
    skipped: list[Skipped] = []
    for document in _services(directory):
        name = str(document.get("metadata", {}).get("name", "?"))
        spec = document.get("spec") or {}
        protocol = str(spec.get("protocol", "http"))
        endpoints = spec.get("endpoints") or []
        if protocol not in SERVED_PROTOCOLS:
            skipped.append(Skipped(name, f"protocol {protocol}: this upstream speaks HTTP/1.1"))
            continue
        if not endpoints:
            skipped.append(Skipped(name, "no endpoints (a dns Service)"))
            continue
        for endpoint in endpoints:
            subset = _subset_of(endpoint.get("labels") or {}, spec.get("subsets") or [])
            found.append(Endpoint(name, subset, str(endpoint["address"]), int(endpoint["port"])))
    return found, skipped


__all__ = ["SERVED_PROTOCOLS", "Endpoint", "Skipped", "endpoints_of"]
