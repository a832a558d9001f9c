"""A policy directory is read within one node budget for all its files, in memory that
grows with its text rather than with what its aliases expand to, and only from files
that are inside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from breakwater.controlplane.state.sources import MAX_FILE_BYTES
from breakwater.translators.yaml_reader import MAX_NODES_PER_DIRECTORY, MAX_NODES_PER_DOCUMENT
from tests.support.policies import load_policy_dir, payments_service

ALIASES = 98
WIDE = 1000


def expanding_document() -> str:
    """A document of ~99 000 nodes once its aliases expand, in under 5 KB of text."""
    items = ",".join(["x"] * (WIDE - 1))
    return f"a: &a [{items}]\nb: [{','.join(['*a'] * ALIASES)}]\n"


def test_one_node_budget_for_the_whole_directory(tmp_path: Path) -> None:
    files = MAX_NODES_PER_DIRECTORY // (WIDE * (ALIASES + 1)) + 2
    for n in range(files):
        (tmp_path / f"part-{n:02d}.yaml").write_text(expanding_document())
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is None
    budget = [e for e in errors if str(MAX_NODES_PER_DIRECTORY) in e.message]
    assert len(budget) == 1, [e.message for e in errors]
    last = f"part-{files - 1:02d}.yaml"
    assert budget[0].file.endswith((last, f"part-{files - 2:02d}.yaml")), budget[0]
    assert "directory" in budget[0].message and budget[0].message.endswith("."), budget[0]


ATTACK = """
import json, sys, time
from pathlib import Path
from breakwater.controlplane.state.sources import load_policy_files
start = time.perf_counter()
_, loaded = load_policy_files(Path(sys.argv[1]))
# The peak of this process's own memory: getrusage's ru_maxrss would also count what the
# process that forked it held before the exec (Linux keeps it across execve).
peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - start, "errors": len(loaded.errors),
                  "rss_mib": peak / 1024}))
"""


def attack_file(path: Path) -> int:
    """Services whose endpoints are one aliased endpoint repeated, as many documents as fit
    under the per-document cap, padded to just under the file size limit."""
    labels = ", ".join(f"k{n}: v" for n in range(8))
    endpoint = f"&e {{address: 10.0.0.1, port: 80, labels: {{{labels}}}}}"
    per_document = MAX_NODES_PER_DOCUMENT // 12 - 100
    documents = []
    for n in range(MAX_NODES_PER_DIRECTORY // MAX_NODES_PER_DOCUMENT + 1):
        documents.append(
            "apiVersion: breakwater.dev/v1alpha1\nkind: Service\n"
            f"metadata: {{name: s{n}}}\nspec:\n  protocol: http\n"
            f"  endpoints: [{endpoint}, {', '.join(['*e'] * per_document)}]\n"
        )
    text = "---\n".join(documents)
    text += "#" + "p" * (MAX_FILE_BYTES - len(text) - 2048) + "\n"
    path.write_text(text)
    return len(text)


def test_a_file_of_aliases_is_read_in_bounded_memory_and_time(tmp_path: Path) -> None:
    size = attack_file(tmp_path / "attack.yaml")
    assert MAX_FILE_BYTES - 4096 < size < MAX_FILE_BYTES
    result = subprocess.run(
        [sys.executable, "-c", ATTACK, os.fspath(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(result.stdout)
    assert measured["rss_mib"] < 200, measured
    assert measured["seconds"] < 10, measured


def test_an_error_under_an_alias_points_at_the_line_that_wrote_it(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(
        "apiVersion: breakwater.dev/v1alpha1\nkind: Service\nmetadata: {name: payments}\n"
        "spec:\n  protocol: http\n  endpoints:\n"
        "    - &e\n      address: 10.0.0.1\n      port: 99999\n"
        "    - *e\n"
    )
    _, errors = load_policy_dir(tmp_path)
    ports = [e for e in errors if "port" in (e.field or "")]
    assert {e.line for e in ports} == {9}, [(e.field, e.line, e.message) for e in errors]


def configmap_mount(path: Path, text: str) -> None:
    """A directory laid out as Kubernetes mounts a ConfigMap: each file a link to `..data`,
    itself a link to the timestamped directory that holds the files."""
    stamped = path / "..2026_01_01_00_00_00.000000001"
    stamped.mkdir(parents=True)
    (stamped / "services.yaml").write_text(text)
    (path / "..data").symlink_to(stamped.name)
    (path / "services.yaml").symlink_to("..data/services.yaml")


def test_a_configmap_mount_is_read_through_its_links(tmp_path: Path) -> None:
    configmap_mount(tmp_path / "policies", payments_service(8081, 8082))
    policyset, errors = load_policy_dir(tmp_path / "policies")
    assert errors == []
    assert policyset is not None and "payments" in policyset.services


def test_a_link_that_leads_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "token.yaml").write_text(payments_service(8081, 8082))
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "services.yaml").symlink_to(outside / "token.yaml")
    (policies / "nested").symlink_to(outside, target_is_directory=True)
    policyset, errors = load_policy_dir(policies)
    assert policyset is None
    refused = [e for e in errors if "outside the policy directory" in e.message]
    assert refused and refused[0].file.endswith("services.yaml"), errors
    assert refused[0].message.endswith("."), refused[0].message
    assert all("secrets" not in str(e.line) for e in errors)
