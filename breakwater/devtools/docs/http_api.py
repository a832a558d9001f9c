"""The HTTP API reference, from the OpenAPI document the admin port serves at `/openapi.json`."""

from __future__ import annotations

from typing import Any

from breakwater.controlplane.api.openapi import openapi_document
from breakwater.devtools.docs.markdown import code, page, table
from breakwater.devtools.docs.schema_text import type_text

_REF = "#/components/schemas/"


def _schema_name(content: dict[str, Any] | None) -> str:
    if not content:
        return ""
    for media, value in content.items():
        schema = value.get("schema", {})
        ref = schema.get("$ref", "")
        name = ref.removeprefix(_REF) if ref else type_text(schema)
        anchor = f"[{name}](#{name.lower()})" if ref else code(name)
        return f"{anchor} ({media})"
    return ""


def _operation(path: str, method: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", op.get("summary", "").rstrip(".") + ".", ""]
    parameters = op.get("parameters", [])
    if parameters:
        lines += table(
            ["parameter", "in", "type", "description"],
            [
                [
                    code(p["name"]) + ("" if p.get("required") else " (optional)"),
                    p["in"],
                    type_text(p.get("schema", {})),
                    p.get("description", ""),
                ]
                for p in parameters
            ],
        )
        lines.append("")
    body = op.get("requestBody")
    if body:
        lines += [f"Request body: {_schema_name(body.get('content'))}", ""]
    lines += table(
        ["status", "meaning", "body"],
        [
            [code(status), answer.get("description", ""), _schema_name(answer.get("content"))]
            for status, answer in op.get("responses", {}).items()
        ],
    )
    lines.append("")
    return lines


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    if properties:
        lines += table(
            ["field", "type", "description"],
            [
                [
                    code(field) + ("" if field in required else " (optional)"),
                    type_text(value, _REF),
                    value.get("description", ""),
                ]
                for field, value in properties.items()
            ],
        )
    else:
        lines.append(f"{code(type_text(schema, _REF))}")
    lines.append("")
    return lines


def http_api_page() -> str:
    document = openapi_document()
    body: list[str] = ["## Operations", ""]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            body += _operation(path, method, op)
    body += ["## Schemas", ""]
    for name, schema in sorted(document["components"]["schemas"].items()):
        body += _schema(name, schema)
    return page(
        "HTTP API",
        f"The admin port's API ({document['info']['title']}, version "
        f"{document['info']['version']}), from the OpenAPI {document['openapi']} document the "
        "server serves at `/openapi.json`. Writes need the bearer token once `serve` has "
        "`--token-file`, and a `Content-Type: application/json` body; see "
        "[Security](../security.md).",
        body,
    )
