"""The same PolicySet gives byte-identical resources: versions are content hashes.

Protobuf walks map fields in an order that depends on the process, so the
check runs in fresh interpreters too, not only twice in this one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from breakwater.translators.policyset import PolicySet
from breakwater.translators.snapshot import TYPE_URLS, translate
from tests.translators.support import case_names, load_case

ROOT = Path(__file__).resolve().parents[2]


def fingerprint(policyset: PolicySet) -> str:
    digest = hashlib.sha256()
    resources = translate(policyset, frozenset(policyset.gateways))
    for type_url in TYPE_URLS:
        digest.update(type_url.encode())
        for message in resources[type_url]:
            digest.update(message.SerializeToString(deterministic=True))
    return digest.hexdigest()


def all_fingerprints() -> dict[str, str]:
    return {name: fingerprint(load_case(name)) for name in case_names()}


def reversed_policyset(policyset: PolicySet) -> PolicySet:
    """The same documents, inserted in the opposite order."""
    return PolicySet(
        services=dict(reversed(list(policyset.services.items()))),
        policies=dict(reversed(list(policyset.policies.items()))),
        gateways=dict(reversed(list(policyset.gateways.items()))),
        routes=dict(reversed(list(policyset.routes.items()))),
        telemetry=dict(reversed(list(policyset.telemetry.items()))),
        gateway_api=policyset.gateway_api,
    )


def test_same_bytes_twice_in_one_process() -> None:
    assert all_fingerprints() == all_fingerprints()


def test_document_order_does_not_matter() -> None:
    for name in case_names():
        policyset = load_case(name)
        assert fingerprint(policyset) == fingerprint(reversed_policyset(policyset)), name


def test_same_bytes_in_other_processes() -> None:
    here = all_fingerprints()
    script = (
        "import json\n"
        "from tests.translators.test_determinism import all_fingerprints\n"
        "print(json.dumps(all_fingerprints()))\n"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(out.stdout) == here, f"resources differ with PYTHONHASHSEED={seed}"
