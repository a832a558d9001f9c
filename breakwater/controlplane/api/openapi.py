"""The admin port's OpenAPI 3.1 document, served at `/openapi.json`, generated.

The schemas are the JSON schema of the API's models (OpenAPI 3.1 takes JSON
Schema as it is), the error responses come from the error table, and the
paths from the table of operations (`table.py`): method, parameters, what a
success returns and which refusals it can answer with.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic.json_schema import models_json_schema

from breakwater.controlplane.api.errors import ERRORS, ErrorRule
from breakwater.controlplane.api.models import ApiModel, ErrorResponse
from breakwater.controlplane.api.table import OPERATIONS, Operation

_REF = "#/components/schemas/{model}"
_ERRORS_BY_NAME: Mapping[str, ErrorRule] = {kind.__name__: rule for kind, rule in ERRORS.items()}


def _content(content_type: str, model: type[ApiModel] | None) -> dict[str, Any]:
    if model is None:
        schema: dict[str, Any] = {"type": "object"} if content_type == "application/json" else {}
    else:
        schema = {"$ref": _REF.format(model=model.__name__)}
    return {content_type: {"schema": schema} if schema else {}}


def _responses(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": op.ok, "content": _content(op.content_type, op.answer)}
    }
    for status, (meaning, model) in op.other.items():
        responses[str(status)] = {
            "description": meaning,
            "content": _content(op.content_type, model),
        }
    refusals = op.refusals if op.open else ("Unauthorized", *op.refusals)
    meanings: dict[int, list[str]] = {}
    for name in refusals:
        rule = _ERRORS_BY_NAME.get(name)
        if rule is None:
            raise LookupError(f"{op.name} refuses with {name}, which the error table lacks")
        meanings.setdefault(rule.http_status, []).append(rule.meaning)
    for status, said in sorted(meanings.items()):
        responses[str(status)] = {
            "description": "; ".join(said),
            "content": _content("application/json", ErrorResponse),
        }
    return responses


def _operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "responses": _responses(op)}
    if op.parameters:
        out["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path",
                "schema": dict(p.schema),
                **({"description": p.description} if p.description else {}),
            }
            for p in op.parameters
        ]
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": _content("application/json", op.body)}
    return out


@functools.cache
def openapi_document() -> dict[str, Any]:
    # The components: every model an operation answers with or takes, and what they contain.
    models: dict[type[ApiModel], None] = {ErrorResponse: None}
    for op in OPERATIONS:
        for model in (op.answer, op.body, *(m for _, m in op.other.values())):
            if model is not None:
                models[model] = None
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=_REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Breakwater admin API", "version": "v1"},
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {})},
    }
