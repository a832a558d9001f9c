"""Reading golden cases: policy YAML in, config dump YAML out.

Cases go through the same pipeline as the policy directory of `serve`, so
every case is a policy set a user could write and have accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from breakwater.translators.decode import validate_document
from breakwater.translators.model import Gateway, HTTPRoute, ResiliencePolicy, Service
from breakwater.translators.pipeline import SourceText, policyset_from_texts
from breakwater.translators.policyset import PolicySet
from breakwater.translators.yaml_reader import read_documents

HERE = Path(__file__).parent
CASES = HERE / "cases"
GOLDEN = HERE / "golden"


def case_names() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.yaml"))


def policyset_from_text(text: str, file: str = "<case>") -> PolicySet:
    """Through the one pipeline `serve` uses: a case must be a policy set users could write."""
    loaded = policyset_from_texts({file: SourceText(file, text)})
    assert loaded.policyset is not None, "\n".join(str(e) for e in loaded.errors)
    return loaded.policyset


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
