"""Reading golden cases: policy YAML in, config dump YAML out.

Each case lives beside the Envoy translator slice it is about, with its
golden file: `envoy/<slice>/<case>.yaml` and `<case>.golden.yaml`, so a
slice's goldens run alone with `-k <slice>`. Cases go through the same
pipeline as the policy directory of `serve`, so every case is a policy set
a user could write and have accepted. Each case names the resource types it
is about in a comment line, `# golden: clusters, routes`, and its golden
file holds only those; one case names them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from breakwater.translators.decode import validate_document
from breakwater.translators.model import Gateway, ResiliencePolicy, Service
from breakwater.translators.pipeline import SourceText, policyset_from_texts
from breakwater.translators.policyset import PolicySet
from breakwater.translators.route_model import HTTPRoute
from breakwater.translators.snapshot import CONFIG_DUMP_KEYS
from breakwater.translators.telemetry_model import Telemetry
from breakwater.translators.yaml_reader import read_documents

HERE = Path(__file__).parent
SLICES = HERE / "envoy"
GOLDEN_SUFFIX = ".golden.yaml"
DUMP_KEYS = tuple(CONFIG_DUMP_KEYS.values())
"""The sections of a config dump, in its order: clusters, endpoints, listeners, routes."""
DECLARATION = "# golden:"


def _cases() -> dict[str, Path]:
    return {
        p.name.removesuffix(".yaml"): p
        for p in SLICES.glob("*/*.yaml")
        if not p.name.endswith(GOLDEN_SUFFIX)
    }


def case_names() -> list[str]:
    return sorted(_cases())


def case_ids() -> list[str]:
    """`<slice>/<case>`, in the order of `case_names`."""
    cases = _cases()
    return [f"{cases[name].parent.name}/{name}" for name in case_names()]


def case_path(name: str) -> Path:
    return _cases()[name]


def golden_path(name: str) -> Path:
    """Beside the case (a new case's golden file too)."""
    return case_path(name).with_name(name + GOLDEN_SUFFIX)


def golden_names() -> set[str]:
    return {p.name.removesuffix(GOLDEN_SUFFIX) for p in SLICES.glob(f"*/*{GOLDEN_SUFFIX}")}


def case_sections(name: str) -> tuple[str, ...]:
    """The config dump sections a case is about, from its `# golden: ...` line, in dump order."""
    path = case_path(name)
    for line in path.read_text().splitlines():
        if line.startswith(DECLARATION):
            named = {part.strip() for part in line.removeprefix(DECLARATION).split(",")}
            unknown = named - set(DUMP_KEYS)
            assert not unknown, f"{path}: {sorted(unknown)} are not sections; use {DUMP_KEYS}"
            return tuple(key for key in DUMP_KEYS if key in named)
    raise AssertionError(
        f"{path} does not say what it is about; add a line such as `{DECLARATION} clusters, routes`"
    )


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
        telemetry={d.name: d for d in documents if isinstance(d, Telemetry)},
    )


def load_case(name: str) -> PolicySet:
    path = case_path(name)
    return policyset_from_text(path.read_text(), str(path))


def dump_yaml(data: Any) -> str:
    """Keys keep the order `to_config_dump` gives them (sorted, the resource's name first)."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
