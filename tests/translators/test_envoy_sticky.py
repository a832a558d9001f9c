"""Sticky weighted routing and zero weights, measured with a real Envoy.

The translated resources are served statically to an Envoy whose upstreams
refuse connections; the access log still names the cluster each request was
sent to, which is all this test needs to know.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from google.protobuf import json_format

from breakwater.devtools.ports import free_ports
from breakwater.translators.snapshot import translate
from tests.translators.envoy_validate import ENVOY, static_bootstrap
from tests.translators.support import policyset_from_text

POLICIES = """
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  endpoints:
    - {{address: 127.0.0.1, port: {closed}, labels: {{track: stable}}}}
    - {{address: 127.0.0.1, port: {closed}, labels: {{track: canary}}}}
    - {{address: 127.0.0.1, port: {closed}, labels: {{track: preview}}}}
  subsets:
    - {{name: stable, labels: {{track: stable}}}}
    - {{name: canary, labels: {{track: canary}}}}
    - {{name: preview, labels: {{track: preview}}}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec: {{address: 127.0.0.1, port: {listen}}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge]
  rules:
    - backends:
        - {{service: payments, subset: stable, weight: 75}}
        - {{service: payments, subset: canary, weight: 25}}
        - {{service: payments, subset: preview, weight: 0}}
      sticky: {{header: x-user-id}}
"""

USERS = 400
REPEATS = 10


def _wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"Envoy exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("Envoy did not open its listener in time")


def _log_lines(path: Path) -> list[dict[str, str]]:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.mark.skipif(not ENVOY.exists(), reason="no Envoy binary in the venv")
def test_one_user_one_backend_and_weight_zero_never_picked(tmp_path: Path) -> None:
    listen, closed = free_ports(2)
    policyset = policyset_from_text(POLICIES.format(listen=listen, closed=closed))
    bootstrap = static_bootstrap(translate(policyset, {"edge"}))
    config = tmp_path / "bootstrap.json"
    config.write_text(json_format.MessageToJson(bootstrap, preserving_proto_field_name=True))
    stdout = tmp_path / "envoy.stdout"
    expected = USERS + REPEATS
    with stdout.open("wb") as out:
        process = subprocess.Popen(
            [
                os.fspath(ENVOY),
                "--config-path",
                os.fspath(config),
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "error",
                # Access logs are flushed every 10 s by default; the test reads them at once.
                "--file-flush-interval-msec",
                "50",
            ],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(listen, process, time.monotonic() + 15)
            connection = http.client.HTTPConnection("127.0.0.1", listen, timeout=5)
            users = [f"user-{i}" for i in range(USERS)] + ["user-7"] * REPEATS
            for user in users:
                connection.request("GET", "/", headers={"x-user-id": user})
                connection.getresponse().read()
            connection.close()
            deadline = time.monotonic() + 15
            while len(_log_lines(stdout)) < expected and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=15)

    entries = _log_lines(stdout)
    assert len(entries) >= expected
    clusters_by_user: dict[str, set[str]] = defaultdict(set)
    for entry, user in zip(entries, users, strict=False):
        clusters_by_user[user].add(entry["upstream_cluster"])
    assert clusters_by_user["user-7"] and len(clusters_by_user["user-7"]) == 1
    assert all(len(seen) == 1 for seen in clusters_by_user.values())

    per_user = Counter(next(iter(seen)) for seen in clusters_by_user.values())
    assert per_user["payments|preview"] == 0
    share = per_user["payments|stable"] / sum(per_user.values())
    assert 0.65 <= share <= 0.85, per_user
