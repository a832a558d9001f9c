"""The policy reference: every field of every kind, from the JSON Schema `breakwater schema` prints.

One table per kind, one row per field path (`spec.retry.backoff.baseInterval`),
with its type, allowed values and bounds, its default, and the description
the models give. The schema knows shapes; what needs code ("exactly one of",
a subset that must exist) is `breakwater validate`'s, and the how-to pages
say it in sentences.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from breakwater.devtools.docs.markdown import code, page, table
from breakwater.devtools.docs.schema_text import ref_name, type_text, without_null
from breakwater.schema import json_schema

Row = tuple[str, str, str, str]


def _description(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    own = schema.get("description")
    if own and type_text(schema) == "duration":
        return ""  # the type column says it, and the page's introduction says what one looks like
    if own:
        return str(own)
    name = ref_name(schema)
    if name is None:
        items = schema.get("items")
        name = ref_name(items) if isinstance(items, dict) else None
    return str(defs.get(name, {}).get("description", "")) if name else ""


def _objects(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """The definitions a field leads into, with the path suffix for each (`` or `[]`)."""
    found: list[tuple[str, str]] = []
    for option in schema.get("anyOf", [schema]):
        name = ref_name(option)
        if name is not None:
            found.append((name, ""))
        items = option.get("items")
        if option.get("type") == "array" and isinstance(items, dict):
            for inner in items.get("anyOf", [items]):
                inner_name = ref_name(inner)
                if inner_name is not None:
                    found.append((inner_name, "[]"))
    return found


def _rows(
    definition: str, prefix: str, defs: dict[str, Any], seen: tuple[str, ...]
) -> Iterator[Row]:
    schema = defs[definition]
    for field, raw in schema.get("properties", {}).items():
        value, _ = without_null(raw)
        default = raw.get("default")
        default_text = code(json.dumps(default)) if default is not None else ""
        path = f"{prefix}{field}"
        required = field in schema.get("required", [])
        yield (
            code(path) + (" (required)" if required else ""),
            type_text(value),
            default_text,
            _description(raw if "description" in raw else value, defs),
        )
        for name, suffix in _objects(value):
            target = defs.get(name, {})
            if name in seen or "properties" not in target:
                continue
            yield from _rows(name, f"{path}{suffix}.", defs, (*seen, name))


def policies_page() -> str:
    schema = json_schema()
    defs: dict[str, Any] = schema["$defs"]
    body: list[str] = []
    for option in schema["oneOf"]:
        name = ref_name(option)
        assert name is not None
        kind = defs[name]
        api_version = kind["properties"]["apiVersion"].get("const", "")
        body += [f"## {name}", "", f"`apiVersion: {api_version}`, `kind: {name}`.", ""]
        spec_ref = ref_name(kind["properties"]["spec"])
        if spec_ref and defs[spec_ref].get("description"):
            body += [" ".join(defs[spec_ref]["description"].split()), ""]
        body += table(
            ["field", "type", "default", "description"],
            _rows(name, "", defs, (name,)),
        )
        body.append("")
    return page(
        "Policy fields",
        "Every field of every Breakwater kind, from the JSON Schema that `breakwater schema` "
        "prints (generated from the policy models). Types: a *duration* is a number with a unit "
        "(`250ms`, `5s`, `1.5s`, `1m`, `1h`); a name in the type column is an object whose "
        "fields follow on the next rows. What needs code to check (a name's spelling, "
        '"exactly one of", a subset that must exist) is `breakwater validate`\'s; the '
        "[concepts](../concepts.md) and the how-to pages say it in sentences.",
        body,
    )
