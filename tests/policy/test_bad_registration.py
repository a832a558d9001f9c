"""Mistakes in registration, zones and DNS subsets, each reported on the line the user wrote
with a sentence that says what to do instead (as `test_bad_files`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bad_policies import errors_of
from tests.support.errors import assert_located

SERVICE_HEAD = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: s}
spec:
"""

POLICY_HEAD = """\
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: p}
spec:
"""

# (case id, YAML, expected line, expected field, words the message must hold)
CASES = [
    (
        "registration-beside-dns",
        SERVICE_HEAD + "  dns: {name: s.internal, port: 80}\n  registration: {ttl: 30s}\n",
        4,
        "spec",
        ["cannot take registrations", "remove `dns`"],
    ),
    (
        "registration-without-a-ttl-unit",
        SERVICE_HEAD + "  registration: {ttl: 30}\n",
        5,
        "spec.registration.ttl",
        ["unit"],
    ),
    (
        "max-instances-zero",
        SERVICE_HEAD + "  registration: {maxInstances: 0}\n",
        5,
        "spec.registration.maxInstances",
        ["1 or more"],
    ),
    (
        "zone-with-a-space",
        SERVICE_HEAD + "  endpoints:\n    - {address: 10.0.0.1, port: 80, zone: eu 1a}\n",
        6,
        "spec.endpoints[0].zone",
        ["not a valid zone", "eu-1a"],
    ),
    (
        "dns-subset-by-label",
        SERVICE_HEAD
        + "  dns: {name: s.internal, port: 80}\n"
        + "  subsets:\n    - {name: canary, labels: {track: canary}}\n",
        4,
        "spec",
        ["a `dns` service has no labels to select", "`dns: {name, port}`"],
    ),
    (
        "endpoint-subset-by-dns",
        SERVICE_HEAD
        + "  endpoints: [{address: 10.0.0.1, port: 80}]\n"
        + "  subsets:\n    - {name: canary, dns: {name: canary.s.internal, port: 80}}\n",
        4,
        "spec",
        ["has a `dns` name, but the service lists `endpoints`"],
    ),
    (
        "zone-aware-with-ring-hash",
        POLICY_HEAD
        + "  loadBalancer:\n    policy: ring-hash\n    hashOn: {header: x-user}\n"
        + "    zoneAware: {}\n",
        5,
        "spec.loadBalancer",
        ["zone-aware routing for round-robin"],
    ),
    (
        "failover-with-nowhere-to-go",
        POLICY_HEAD + "  failover: {subset: canary}\n",
        5,
        "spec.failover",
        ["give `to`", "or `zones`"],
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_registration_and_zone_mistake_is_located(
    tmp_path: Path, text: str, line: int, field: str, words: list[str]
) -> None:
    assert_located(errors_of(tmp_path, text), line, field, words)
