"""JSON Schema fragments in words: `integer ≥ 1`, `list of Backend`, `duration`, `"http" | "grpc"`.

Both the policy reference and the HTTP API reference describe schemas that
pydantic wrote, so both read them the same way here.
"""

from __future__ import annotations

import json
from typing import Any

from breakwater.schema.json_schema import DURATION_PATTERN

DEFS = "#/$defs/"


def ref_name(schema: dict[str, Any], prefix: str = DEFS) -> str | None:
    ref = schema.get("$ref")
    return ref.removeprefix(prefix) if isinstance(ref, str) else None


def without_null(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema with a `null` alternative taken out, and whether there was one."""
    options = schema.get("anyOf")
    if not options:
        return schema, schema.get("type") == "null"
    rest = [option for option in options if option.get("type") != "null"]
    nullable = len(rest) < len(options)
    if len(rest) == 1:
        merged = {k: v for k, v in schema.items() if k != "anyOf"}
        return {**rest[0], **merged}, nullable
    return {**schema, "anyOf": rest}, nullable


def _bounds(schema: dict[str, Any]) -> str:
    words = []
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("minItems", "items ≥"),
        ("maxItems", "items ≤"),
    ):
        if key in schema:
            words.append(f"{sign} {schema[key]}")
    return (" " + ", ".join(words)) if words else ""


def type_text(schema: dict[str, Any], prefix: str = DEFS) -> str:
    """One schema in a few words; references are named by their definition."""
    schema, _ = without_null(schema)
    name = ref_name(schema, prefix)
    if name is not None:
        return name
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "anyOf" in schema or "oneOf" in schema:
        return " or ".join(
            type_text(option, prefix) for option in schema.get("anyOf") or schema["oneOf"]
        )
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_text(schema.get('items', {}), prefix)}" + _bounds(schema)
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            return f"map of string to {type_text(values, prefix)}"
        return "object"
    if kind == "string" and schema.get("pattern") == DURATION_PATTERN:
        return "duration"
    if kind == "string" and "pattern" in schema:
        return f"string matching `{schema['pattern']}`"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    return f"{kind or 'any'}{_bounds(schema)}"
