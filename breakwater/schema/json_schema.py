"""One JSON Schema for every Breakwater kind: a `oneOf` chosen by `kind`, for editors.

Pydantic writes the schema; two things are ours. Durations are strings with
a unit (`250ms`, `5s`), not ISO 8601 as pydantic would say of a timedelta.
And the discriminator is `kind`, so an editor that knows the kind offers
that kind's fields.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from breakwater.translators.durations import DURATION_HELP
from breakwater.translators.kinds import KINDS

SCHEMA_ID = "https://breakwater.dev/schemas/v1alpha1/breakwater.schema.json"
DURATION_PATTERN = r"^\d+(\.\d+)?(us|ms|s|m|h)$"
"""The same grammar as `breakwater.translators.durations` reads."""


SHORTHANDS: dict[str, dict[str, Any]] = {
    "Sink": {"type": "string", "enum": ["stdout", "stderr"]},
}
"""Models that also accept a bare string (read by their `mode="before"` validators), by name:
an access log sink may be written `stdout` for `{stdout: true}`."""


class _BreakwaterSchema(GenerateJsonSchema):
    """Pydantic's generator, with durations as Breakwater writes them."""

    def timedelta_schema(self, schema: core_schema.TimedeltaSchema) -> JsonSchemaValue:
        return {"type": "string", "pattern": DURATION_PATTERN, "description": DURATION_HELP}


def _document_union() -> Any:
    kinds = tuple(KINDS.values())
    return Annotated[Union[kinds], Field(discriminator="kind")]  # noqa: UP007 - built at runtime


def json_schema() -> dict[str, Any]:
    """Every kind's schema under `$defs`, and a `oneOf` of them discriminated by `kind`."""
    adapter: TypeAdapter[Any] = TypeAdapter(_document_union())
    schema = adapter.json_schema(by_alias=True, schema_generator=_BreakwaterSchema)
    defs = schema["$defs"]
    for name, shorthand in SHORTHANDS.items():
        defs[name] = {"anyOf": [defs[name], shorthand]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Breakwater policy document (breakwater.dev/v1alpha1)",
        **schema,
    }


def kind_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """Each kind's own schema (a `$ref` into the definitions), and the definitions."""
    schema = json_schema()
    defs: dict[str, Any] = schema["$defs"]
    return {kind: defs[model.__name__] for kind, model in KINDS.items()}, defs


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


__all__ = ["DURATION_PATTERN", "SCHEMA_ID", "json_schema", "json_schema_text", "kind_schemas"]
