"""Reading deploy/kubernetes and the policy examples as Kubernetes and Breakwater would.

One place for the pinned Kubernetes version the manifests are checked
against, and for turning a CRD's OpenAPI v3 schema into one the `jsonschema`
package checks documents with (OpenAPI's `nullable` and Kubernetes'
`x-kubernetes-int-or-string` are not JSON Schema words).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from breakwater.translators.documents import RawDocument
from breakwater.translators.model import API_VERSION
from breakwater.translators.yaml_reader import read_documents

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO / "deploy" / "kubernetes"
EXAMPLES_DIR = REPO / "deploy" / "examples"

KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes release whose schemas (shipped inside kubernetes-validate) the manifests meet."""

NOT_KUBERNETES_OBJECTS = {"kustomization.yaml"}
"""Read by kustomize, not sent to the API server: there is no Kubernetes schema to check it against."""


def documents(path: Path) -> list[RawDocument]:
    """The documents of a YAML file, read as Breakwater reads policies (keys always text)."""
    raws, errors = read_documents(path.read_text(), str(path))
    assert not errors, errors
    return [raw for raw in raws if raw.data is not None]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object of deploy/kubernetes, with `file#index` to name it."""
    out = []
    for path in sorted(KUBERNETES_DIR.glob("*.yaml")):
        if path.name in NOT_KUBERNETES_OBJECTS:
            continue
        for index, raw in enumerate(documents(path)):
            out.append((f"{path.name}#{index}", raw.data))
    return out


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    """Every Breakwater-kind document of deploy/examples, named `file:line`.

    Documents of other apiVersions (Gateway API's, for one) are left out:
    their own reader validates them, and the Breakwater schemas do not
    describe them.
    """
    out = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        for raw in documents(path):
            if isinstance(raw.data, dict) and raw.data.get("apiVersion") == API_VERSION:
                out.append((f"{path.name}:{raw.line}", raw.data))
    return out


def openapi_as_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's openAPIV3Schema in draft-4 JSON Schema words (OpenAPI 3.0 is draft-4 based)."""
    out = copy.deepcopy(schema)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            if node.pop("x-kubernetes-int-or-string", False):
                node["type"] = ["integer", "string"]
            node.pop("x-kubernetes-preserve-unknown-fields", None)
            if node.pop("nullable", False) and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(out)
    return out
