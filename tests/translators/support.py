"""Reading golden cases: policy YAML in, config dump YAML out.

Cases go through the loader and validator, so every case is a policy set a
user could write and have accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from breakwater.translators.loader import read_documents, validate_document
from breakwater.translators.model import Gateway, HTTPRoute, ResiliencePolicy, Service
from breakwater.translators.policyset import PolicySet
from breakwater.translators.validate import build_policyset

HERE = Path(__file__).parent
CASES = HERE / "cases"
GOLDEN = HERE / "golden"


def case_names() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.yaml"))


def policyset_from_text(text: str, file: str = "<case>") -> PolicySet:
    """Through the real loader and validator: a case must be a policy set users could write."""
    raws, errors = read_documents(text, file)
    documents = []
    for raw in raws:
        document, doc_errors = validate_document(raw)
        errors += doc_errors
        if document is not None:
            documents.append((document, raw))
    policyset, cross_errors = build_policyset(documents)
    errors += cross_errors
    assert not errors, "\n".join(str(e) for e in errors)
    return policyset


def unchecked_policyset(text: str) -> PolicySet:
    """Documents valid one by one but not together: what translators must survive without crashing."""
    raws, errors = read_documents(text, "<unchecked>")
    documents = [doc for doc, _ in (validate_document(raw) for raw in raws) if doc is not None]
    assert not errors
    return PolicySet(
        services={d.name: d for d in documents if isinstance(d, Service)},
        policies={d.name: d for d in documents if isinstance(d, ResiliencePolicy)},
        gateways={d.name: d for d in documents if isinstance(d, Gateway)},
        routes={d.name: d for d in documents if isinstance(d, HTTPRoute)},
    )


def load_case(name: str) -> PolicySet:
    path = CASES / f"{name}.yaml"
    return policyset_from_text(path.read_text(), str(path))


def dump_yaml(data: Any) -> str:
    """Keys keep the order `to_config_dump` gives them (sorted, the resource's name first)."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
