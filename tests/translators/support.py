"""Reading golden cases: policy YAML in, config dump YAML out.

Cases are parsed here with the models alone, not the file loader, so that a
golden test fails only when translation changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from breakwater.translators.model import KINDS, Gateway, HTTPRoute, ResiliencePolicy, Service
from breakwater.translators.policyset import PolicySet

HERE = Path(__file__).parent
CASES = HERE / "cases"
GOLDEN = HERE / "golden"


def case_names() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.yaml"))


def policyset_from_text(text: str) -> PolicySet:
    services: dict[str, Service] = {}
    policies: dict[str, ResiliencePolicy] = {}
    gateways: dict[str, Gateway] = {}
    routes: dict[str, HTTPRoute] = {}
    for raw in yaml.safe_load_all(text):
        if raw is None:
            continue
        document = KINDS[raw["kind"]].model_validate(raw)
        if isinstance(document, Service):
            services[document.name] = document
        elif isinstance(document, ResiliencePolicy):
            policies[document.name] = document
        elif isinstance(document, Gateway):
            gateways[document.name] = document
        elif isinstance(document, HTTPRoute):
            routes[document.name] = document
    return PolicySet(services=services, policies=policies, gateways=gateways, routes=routes)


def load_case(name: str) -> PolicySet:
    return policyset_from_text((CASES / f"{name}.yaml").read_text())


def dump_yaml(data: Any) -> str:
    """Keys keep the order `to_config_dump` gives them (sorted, the resource's name first)."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
