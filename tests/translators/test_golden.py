"""Golden files: each case's policies and the Envoy config they must become.

A golden file holds only the resource types its case is about (its
`# golden:` line), so a change to listeners rewrites the one case that dumps
everything, not every file. Envoy still validates each case's whole output.

Each case and its golden file sit in the folder of the Envoy translator slice
they are about (`envoy/<slice>/`); `-k <slice>` runs one slice's. Regenerate
with `UPDATE_GOLDENS=1 .venv/bin/pytest tests/translators`, then read the
diff: a golden file is only as right as the review it got.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from breakwater.translators.policyset import PolicySet
from breakwater.translators.proxyless import GRPC, Proxyless
from breakwater.translators.snapshot import (
    BuildTarget,
    Resources,
    node_group,
    to_config_dump,
    translate,
)
from tests.translators.envoy_validate import ENVOY, validate_with_envoy
from tests.translators.support import (
    DUMP_KEYS,
    case_ids,
    case_names,
    case_path,
    case_sections,
    dump_yaml,
    golden_names,
    golden_path,
    load_case,
)

UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"

# Cases about node groups are rendered once per proxy described here:
# label → (node.cluster, node.metadata, node.locality.zone).
NODES: dict[str, dict[str, tuple[str, dict[str, str], str | None]]] = {
    "node_groups": {
        "edge-eu-west": ("edge", {"region": "eu-west"}, None),
        "edge-us-east": ("edge", {"region": "us-east"}, None),
        "monitoring": ("monitoring", {}, None),
    },
    # One proxy in each of two zones, and a third in eu-1a: the local cluster counts them.
    "zones": {
        "edge-eu-1a": ("edge", {}, "eu-1a"),
        "edge-eu-1b": ("edge", {}, "eu-1b"),
        "edge-eu-1a-2": ("edge", {}, "eu-1a"),
    },
}


PROXYLESS_SLICE = "proxyless"
"""Its cases are rendered as proxyless gRPC clients are served them, not for a gateway."""


def proxyless_case(name: str) -> bool:
    return case_path(name).parent.name == PROXYLESS_SLICE


def _local(nodes: dict[str, tuple[str, dict[str, str], str | None]], cluster: str) -> Local:
    """The local cluster of a node cluster: its proxies (those described) by zone."""
    counts: dict[str, int] = {}
    for node_cluster, _, zone in nodes.values():
        if node_cluster == cluster:
            counts[zone or ""] = counts.get(zone or "", 0) + 1
    return tuple(sorted(counts.items()))


Local = tuple[tuple[str, int], ...]


def renderings(
    name: str, policyset: PolicySet
) -> list[tuple[str | None, BuildTarget, str | None, Local]]:
    """(node label, gateway group, zone, local cluster) a case is rendered for; every gateway
    when no nodes are given; the proxyless clients' profile for the proxyless slice."""
    if proxyless_case(name):
        return [(None, Proxyless(GRPC), None, ())]
    nodes = NODES.get(name)
    if nodes is None:
        return [(None, frozenset(policyset.gateways), None, ())]
    return [
        (
            label,
            node_group(policyset, cluster, metadata),
            zone,
            _local(nodes, cluster) if zone else (),
        )
        for label, (cluster, metadata, zone) in nodes.items()
    ]


def rendered(name: str) -> tuple[Any, list[Resources]]:
    """The golden output (the case's sections only) and every full translation behind it."""
    policyset = load_case(name)
    sections = case_sections(name)
    outputs: dict[str, Any] = {}
    all_resources: list[Resources] = []
    for label, group, zone, local in renderings(name, policyset):
        resources = translate(policyset, group, zone, local)
        all_resources.append(resources)
        dump = {key: value for key, value in to_config_dump(resources).items() if key in sections}
        if label is None:
            return dump, all_resources
        cluster, metadata, zone = NODES[name][label]
        node: dict[str, Any] = {"cluster": cluster, "metadata": metadata}
        if zone is not None:
            node["zone"] = zone
        outputs[label] = {
            "node": node,
            "gateways": sorted(group) if not isinstance(group, Proxyless) else [],
            "config": dump,
        }
    return outputs, all_resources


@pytest.mark.parametrize("name", case_names(), ids=case_ids())
def test_golden(name: str) -> None:
    output, _ = rendered(name)
    text = dump_yaml(output)
    golden = golden_path(name)
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"no golden file for {name}; run with UPDATE_GOLDENS=1 and review it"
    assert text == golden.read_text(), f"{name}: translation differs from {golden}"


@pytest.mark.skipif(not ENVOY.exists(), reason="no Envoy binary in the venv")
@pytest.mark.parametrize("name", case_names(), ids=case_ids())
def test_envoy_accepts(name: str) -> None:
    """Every resource of the case, not only the sections its golden file shows; gRPC's own
    resources are for gRPC, which `tests/proxyless` runs them against."""
    if proxyless_case(name):
        pytest.skip("served to gRPC clients, not to Envoy")
    _, all_resources = rendered(name)
    for resources in all_resources:
        verdict = validate_with_envoy(resources)
        assert verdict.ok, f"Envoy refused {name}:\n{verdict.output}\n{verdict.bootstrap}"


def test_one_case_dumps_every_section() -> None:
    full = [name for name in case_names() if case_sections(name) == DUMP_KEYS]
    assert len(full) == 1, f"cases that dump everything: {full}; keep exactly one"


def test_every_case_has_a_golden_file() -> None:
    cases = set(case_names())
    goldens = golden_names()
    assert goldens == cases, (
        f"cases without golden: {cases - goldens}; stale goldens: {goldens - cases}"
    )
