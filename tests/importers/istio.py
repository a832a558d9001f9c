"""Istio input for the importer tests: a document builder and the import of one text."""

from __future__ import annotations

from typing import Any

import yaml

from breakwater.importers.istio import ImportResult, import_istio
from breakwater.translators.documents import SourceText

SERVICE = {
    "apiVersion": "breakwater.dev/v1alpha1",
    "kind": "Service",
    "metadata": {"name": "app-service"},
    "spec": {
        "endpoints": [
            {"address": "127.0.0.1", "port": 8001, "labels": {"version": "stable"}},
            {"address": "127.0.0.1", "port": 8002, "labels": {"version": "canary"}},
        ]
    },
}
"""A Breakwater Service with the endpoints Istio's YAML does not hold, as `--services` gives."""

SUBSETS_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: app-service}
spec:
  host: app-service
  subsets:
  - {name: stable, labels: {version: stable}}
  - {name: canary, labels: {version: canary}}
"""


def virtual_service(http: list[dict[str, Any]], **spec: Any) -> str:
    """A VirtualService with these HTTP routes (and more of its spec), as YAML."""
    document = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "app"},
        "spec": {**spec, "http": http},
    }
    return yaml.safe_dump(document, sort_keys=False)


def to_app(subset: str | None = None, weight: int | None = None) -> dict[str, Any]:
    destination: dict[str, Any] = {"host": "app-service"}
    if subset is not None:
        destination["subset"] = subset
    out: dict[str, Any] = {"destination": destination}
    if weight is not None:
        out["weight"] = weight
    return out


def convert(*texts: str, services: bool = True, with_subsets: bool = True) -> ImportResult:
    sources = [SourceText(f"input-{i}.yaml", text) for i, text in enumerate(texts)]
    if with_subsets:
        sources.append(SourceText("subsets.yaml", SUBSETS_RULE))
    return import_istio(sources, [SERVICE] if services else [])


def route_of(result: ImportResult) -> dict[str, Any]:
    assert result.errors == [], result.errors
    (route,) = result.files["routes.yaml"]
    return route


def rule_of(result: ImportResult, index: int = 0) -> dict[str, Any]:
    rule: dict[str, Any] = route_of(result)["spec"]["rules"][index]
    return rule


def left(result: ImportResult) -> dict[str, str]:
    """Field path → reason, for every field not carried over."""
    return {leftover.field: leftover.reason for leftover in result.leftovers}
