"""The JSON Schema and the CRDs, generated from the policy models, say what `validate` says.

Every Breakwater document of deploy/examples passes both; documents
`validate` refuses for their shape are refused by both; the CRDs are
structural, as the Kubernetes API server demands; and the checked-in
generated files are what the generator writes today.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from breakwater.cli import main
from breakwater.devtools.kubernetes import stale
from breakwater.schema import crds, json_schema
from breakwater.translators.kinds import KINDS
from tests.deploy.kubernetes import KUBERNETES_DIR, example_documents, openapi_as_json_schema

EXAMPLES = example_documents()


@pytest.fixture(scope="module")
def document_schema() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def crd_schemas() -> dict[str, jsonschema.Draft4Validator]:
    return {
        crd["spec"]["names"]["kind"]: jsonschema.Draft4Validator(
            openapi_as_json_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        )
        for crd in crds()
    }


def _errors(validator: Any, document: dict[str, Any]) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_the_generated_files_in_deploy_kubernetes_are_up_to_date() -> None:
    assert stale() == [], "run `make kubernetes` and commit the result"
    assert (KUBERNETES_DIR / "crds.yaml").is_file()


def test_there_are_examples_of_every_kind() -> None:
    assert {document["kind"] for _, document in EXAMPLES} >= set(KINDS)


@pytest.mark.parametrize(("where", "document"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_every_example_passes_the_json_schema_and_its_crd(
    where: str,
    document: dict[str, Any],
    document_schema: jsonschema.Draft202012Validator,
    crd_schemas: dict[str, jsonschema.Draft4Validator],
) -> None:
    assert _errors(document_schema, document) == []
    assert _errors(crd_schemas[document["kind"]], document) == []


WRONG_SHAPES = [
    ("an unknown field", ("spec", "rules", 0), "weigths", 10, "JSON Schema only"),
    ("a duration without a unit", ("spec", "rules", 0, "timeout"), "request", "3", "both"),
    ("a weight that is text", ("spec", "rules", 0, "backends", 0), "weight", "ninety", "both"),
    ("a list where a map goes", ("spec",), "gateways", {"edge": True}, "both"),
]
"""`validate` refuses each of these; so must the schemas (the CRD prunes unknown fields instead
of refusing them, as Kubernetes does with every structural schema)."""


@pytest.mark.parametrize(
    ("what", "at", "key", "value", "who"), WRONG_SHAPES, ids=[w[0] for w in WRONG_SHAPES]
)
def test_the_schemas_refuse_documents_of_the_wrong_shape(
    what: str,
    at: tuple[str | int, ...],
    key: str,
    value: Any,
    who: str,
    document_schema: jsonschema.Draft202012Validator,
    crd_schemas: dict[str, jsonschema.Draft4Validator],
) -> None:
    document: dict[str, Any] = {
        "apiVersion": "breakwater.dev/v1alpha1",
        "kind": "HTTPRoute",
        "metadata": {"name": "payments"},
        "spec": {
            "gateways": ["edge"],
            "rules": [{"backends": [{"service": "payments"}], "timeout": {"request": "3s"}}],
        },
    }
    assert _errors(document_schema, document) == []
    assert _errors(crd_schemas["HTTPRoute"], document) == []
    node: Any = document
    for part in at:
        node = node[part]
    node[key] = value
    assert _errors(document_schema, document) != [], what
    if who == "both":
        assert _errors(crd_schemas["HTTPRoute"], document) != [], what


def _structural_problems(node: dict[str, Any], path: str) -> list[str]:
    """Kubernetes' rules for a structural schema, as far as the generator could break them."""
    problems = []
    for word in ("$ref", "oneOf", "anyOf", "allOf", "not", "const", "$defs", "definitions"):
        if word in node:
            problems.append(f"{path}: {word}")
    open_ended = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
        "x-kubernetes-int-or-string"
    )
    if "type" not in node and not open_ended:
        problems.append(f"{path}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties beside additionalProperties")
    if "exclusiveMinimum" in node and not isinstance(node["exclusiveMinimum"], bool):
        problems.append(f"{path}: exclusiveMinimum is not OpenAPI 3.0's boolean")
    if "default" in node:
        problems.append(f"{path}: default (the API server would write it into objects)")
    for name, child in node.get("properties", {}).items():
        problems += _structural_problems(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += _structural_problems(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _structural_problems(node["additionalProperties"], f"{path}{{}}")
    return problems


def test_every_crd_is_structural_and_preserves_unknown_fields_only_where_needed() -> None:
    open_nodes = []
    for crd in crds():
        kind = crd["spec"]["names"]["kind"]
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert _structural_problems(schema, kind) == []
        text = json.dumps(schema)
        open_nodes += [kind] * text.count("x-kubernetes-preserve-unknown-fields")
    # Only an access log sink, which may be written `stdout` or `{file: /path}`.
    assert open_nodes == ["Telemetry"]


def test_breakwater_schema_prints_one_schema_with_a_branch_per_kind() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["schema"]) == 0
    schema = json.loads(out.getvalue())
    assert schema["discriminator"]["propertyName"] == "kind"
    assert set(schema["discriminator"]["mapping"]) == set(KINDS)
    assert len(schema["oneOf"]) == len(KINDS)
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["schema", "--crds"]) == 0
    assert out.getvalue() == (KUBERNETES_DIR / "crds.yaml").read_text()


def test_breakwater_schema_writes_the_file_an_editor_reads(tmp_path: Path) -> None:
    target = tmp_path / "breakwater.schema.json"
    assert main(["schema", "-o", str(target)]) == 0
    assert json.loads(target.read_text()) == json_schema()
