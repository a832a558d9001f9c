"""The admin port's OpenAPI 3.1 document, served at `/openapi.json`."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "current_revision": {"type": "integer"}},
    "required": ["error"],
}

_WEIGHTS = {
    "type": "object",
    "properties": {
        "route": {"type": "string"},
        "rule": {"type": "integer"},
        "weights": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "source": {"type": "string", "enum": ["yaml", "override"]},
        "revision": {"type": "integer"},
    },
    "required": ["route", "rule", "weights", "source", "revision"],
}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "weights refused (unknown backend, negative weight, zero sum)",
        404: "no such route or rule",
        409: "the expected revision is stale; the body holds the current one",
        503: "no valid policy set loaded yet, or the store cannot take the write",
    }
    return {
        str(code): {
            "description": reasons[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


_ROUTE = {"name": "route", "in": "path", "required": True, "schema": {"type": "string"}}
_RULE = {
    "name": "rule",
    "in": "query",
    "required": False,
    "description": "rule index; default: the first rule with more than one backend",
    "schema": {"type": "integer", "minimum": 0},
}
_WEIGHTS_OK = {
    "200": {
        "description": "the rule's effective weights",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Weights"}}},
    }
}
_JSON_OK = {
    "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Breakwater admin API", "version": "v1"},
    "paths": {
        "/openapi.json": {"get": {"summary": "this document", "responses": _JSON_OK}},
        "/healthz": {"get": {"summary": "the process is alive", "responses": _JSON_OK}},
        "/readyz": {
            "get": {
                "summary": "policies loaded and the xDS server listening",
                "responses": {**_JSON_OK, "503": {"description": "not ready"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {"description": "text exposition format", "content": {"text/plain": {}}}
                },
            }
        },
        "/v1/status": {
            "get": {
                "summary": "connected proxies and their sync state per xDS type",
                "responses": _JSON_OK,
            }
        },
        "/v1/policies": {
            "get": {
                "summary": "every policy document, valid or not, with its errors",
                "responses": _JSON_OK,
            }
        },
        "/v1/policies/{name}": {
            "get": {
                "summary": "one ResiliencePolicy: its scope, the proxies holding it, its live effect",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {**_JSON_OK, **_errors(404)},
            }
        },
        "/v1/routes/{route}/weights": {
            "get": {
                "summary": "effective weights of a rule",
                "parameters": [_ROUTE, _RULE],
                "responses": {**_WEIGHTS_OK, **_errors(400, 404, 503)},
            },
            "put": {
                "summary": "override the weights of a rule (durable before the answer)",
                "parameters": [_ROUTE],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/SetWeights"}}
                    },
                },
                "responses": {**_WEIGHTS_OK, **_errors(400, 404, 409, 503)},
            },
            "delete": {
                "summary": "drop the override so the YAML weights apply again",
                "parameters": [
                    _ROUTE,
                    _RULE,
                    {
                        "name": "expectedRevision",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": {**_WEIGHTS_OK, **_errors(400, 404, 409, 503)},
            },
        },
    },
    "components": {
        "schemas": {
            "Error": _ERROR,
            "Weights": _WEIGHTS,
            "SetWeights": {
                "type": "object",
                "properties": {
                    "weights": {
                        "type": "object",
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                    "rule": {"type": "integer", "minimum": 0},
                    "expectedRevision": {"type": "integer", "minimum": 0},
                },
                "required": ["weights"],
                "additionalProperties": False,
            },
        }
    },
}
