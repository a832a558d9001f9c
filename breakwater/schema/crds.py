"""Structural CustomResourceDefinitions (apiextensions.k8s.io/v1) from the same models.

Kubernetes wants a structural OpenAPI v3 schema: no `$ref`, a `type` on
every node, no `additionalProperties` beside `properties`, OpenAPI 3.0's
boolean `exclusiveMinimum`, `nullable` instead of a `null` type, and `enum`
instead of `const`. This turns the JSON Schema into one: references are
inlined, optional values (`X | None`) become `X`, an integer-or-name becomes
`x-kubernetes-int-or-string`. Defaults are left out on purpose: the API
server would write them into stored objects, and Breakwater applies its own
when it reads a document. Unions Kubernetes cannot express keep their
variants in the description and preserve unknown fields there only.
"""

from __future__ import annotations

from typing import Any

import yaml

from breakwater.schema.crd_status import BreakwaterStatus
from breakwater.schema.json_schema import kind_schemas
from breakwater.translators.kinds import KINDS
from breakwater.translators.model import API_VERSION

GROUP, VERSION = API_VERSION.split("/")
PLURALS = {
    "Service": "services",
    "ResiliencePolicy": "resiliencepolicies",
    "Gateway": "gateways",
    "HTTPRoute": "httproutes",
    "Rollout": "rollouts",
    "Telemetry": "telemetries",
}
SHORT_NAMES = {
    "Service": ["bwsvc"],
    "ResiliencePolicy": ["rp"],
    "Gateway": ["bwgw"],
    "HTTPRoute": ["bwroute"],
    "Rollout": ["bwro"],
    "Telemetry": ["bwtel"],
}
"""Kubernetes already has `svc`, `gtw` (Gateway API) and `ro` (Argo); Breakwater's stay apart."""

_KEPT = (
    "description",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "enum",
    "required",
)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, defs)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        present = [_resolve(v, defs) for v in variants if v.get("type") != "null"]
        extra = {k: v for k, v in node.items() if k in ("description",)}
        if len(present) < len(variants):
            extra["nullable"] = True
        if len(present) == 1:
            return {**_structural(present[0], defs), **extra}
        types = {v.get("type") for v in present}
        if types == {"integer", "string"}:
            return {"x-kubernetes-int-or-string": True, **extra}
        if types == {"object"}:
            merged: dict[str, Any] = {"type": "object", "properties": {}, **extra}
            for variant in present:
                merged["properties"].update(_structural(variant, defs).get("properties", {}))
            return merged
        return {"x-kubernetes-preserve-unknown-fields": True, **extra}
    out: dict[str, Any] = {k: node[k] for k in _KEPT if k in node}
    if "const" in node:
        out["enum"] = [node["const"]]
    kind = node.get("type")
    if kind is None:
        return {"x-kubernetes-preserve-unknown-fields": True, **out}
    out["type"] = kind
    if "exclusiveMinimum" in node:
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if "exclusiveMaximum" in node:
        out["maximum"], out["exclusiveMaximum"] = node["exclusiveMaximum"], True
    if kind == "array" and "items" in node:
        out["items"] = _structural(node["items"], defs)
    if kind == "object":
        if "properties" in node:
            out["properties"] = {
                name: _structural(value, defs) for name, value in node["properties"].items()
            }
        elif isinstance(node.get("additionalProperties"), dict):
            out["additionalProperties"] = _structural(node["additionalProperties"], defs)
        else:
            out["properties"] = {}
    return out


def _status_schema() -> dict[str, Any]:
    """The status the control plane writes (`crd_status.BreakwaterStatus`), structural."""
    schema = BreakwaterStatus.model_json_schema(by_alias=True)
    return _structural(schema, schema.get("$defs", {}))


PRINTER_COLUMNS = [
    {
        "name": "Accepted",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Accepted")].status',
    },
    {"name": "Applied", "type": "integer", "jsonPath": ".status.proxies.applied"},
    {"name": "Proxies", "type": "integer", "jsonPath": ".status.proxies.total"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
ROLLOUT_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.rollout.phase"},
    {"name": "Step", "type": "integer", "jsonPath": ".status.rollout.step"},
    {"name": "Canary", "type": "integer", "jsonPath": ".status.rollout.canaryWeight"},
]


def _crd(kind: str, schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    plural = PLURALS[kind]
    spec = _structural(schema["properties"]["spec"], defs)
    columns = PRINTER_COLUMNS[:1] + (ROLLOUT_COLUMNS if kind == "Rollout" else [])
    columns += PRINTER_COLUMNS[1:]
    description = (KINDS[kind].__doc__ or "").strip().splitlines()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": SHORT_NAMES[kind],
                "categories": ["breakwater"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            **({"description": description[0]} if description else {}),
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": _status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


def crds() -> list[dict[str, Any]]:
    """One CRD per kind, in the order of `KINDS`."""
    schemas, defs = kind_schemas()
    return [_crd(kind, schemas[kind], defs) for kind in KINDS]


HEADER = (
    "# Generated by `breakwater schema --crds` from the policy models; do not edit.\n"
    "# Regenerate: breakwater schema --crds -o deploy/kubernetes/crds.yaml\n"
)


def crds_yaml() -> str:
    return HEADER + "---\n".join(yaml.safe_dump(crd, sort_keys=False) for crd in crds())


__all__ = ["GROUP", "PLURALS", "VERSION", "crds", "crds_yaml"]
