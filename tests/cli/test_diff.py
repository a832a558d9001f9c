"""`breakwater diff` against a real `breakwater serve` with a proxy connected."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from breakwater.cli import main
from breakwater.client import http, path_of
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until
from breakwater.xds_types import CLUSTER_TYPE
from tests.support.ads import BlockingAdsClient
from tests.support.policies import NODE_CLUSTER, PolicyDir, SplitRoute

ORDERS = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: orders}
spec:
  protocol: http
  endpoints:
    - {address: 127.0.0.1, port: 19999}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: orders}
spec:
  gateways: [edge]
  hostnames: ["orders.example"]
  rules:
    - backends:
        - {service: orders}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, PolicyDir]]:
    """A server on the usual policies, with one proxy of node cluster `edge` connected."""
    root = tmp_path_factory.mktemp("diff")
    policies = PolicyDir.create(root / "policies")
    server = ServeProcess(policies.path, root / "state", root / "serve.log").start()
    proxy = BlockingAdsClient(server.xds_port, "proxy-1", NODE_CLUSTER)
    try:
        proxy.request(CLUSTER_TYPE)
        proxy.recv(10)
        wait_until(
            lambda: http("GET", f"{server.admin_url}/v1/snapshots").body["groups"],
            10,
            "the proxy's group to be served",
        )
        yield server, policies
    finally:
        proxy.close()
        server.stop()


def candidate(served: tuple[ServeProcess, PolicyDir], tmp_path: Path) -> PolicyDir:
    """A copy of the served directory, to change."""
    _, policies = served
    shutil.copytree(policies.path, tmp_path / "candidate")
    return PolicyDir(
        tmp_path / "candidate",
        policies.stable_port,
        policies.canary_port,
        policies.gateway_ports,
        policies.routes,
    )


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_diff(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """`breakwater diff ARGS` through the command's own entry point, in this process."""
    code = main(["diff", *args])
    out, err = capsys.readouterr()
    return Result(code, out, err)


def diff(
    served: tuple[ServeProcess, PolicyDir],
    capsys: pytest.CaptureFixture[str],
    directory: Path,
    *extra: str,
) -> Result:
    server, _ = served
    return run_diff(capsys, str(directory), "--server", server.admin_url, *extra)


def changes(result: Result) -> dict[tuple[str, str], dict[str, Any]]:
    (group,) = json.loads(result.stdout)
    assert group["node_cluster"] == NODE_CLUSTER
    return {(c["type"], c["name"]): c for c in group["changes"]}


def test_the_served_directory_changes_nothing(served, tmp_path, capsys):
    result = diff(served, capsys, candidate(served, tmp_path).path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"node cluster {NODE_CLUSTER!r}: no change"


def test_a_changed_weight_is_one_changed_field(served, tmp_path, capsys):
    policies = candidate(served, tmp_path)
    policies.write_weights({"stable": 50, "canary": 50})

    result = diff(served, capsys, policies.path, "--output", "json")

    assert result.returncode == 1, result.stderr
    found = changes(result)
    assert set(found) == {("rds", "edge")}
    fields = {f["path"]: (f["before"], f["after"]) for f in found[("rds", "edge")]["fields"]}
    assert set(fields.values()) == {(90, 50), (10, 50)}
    prefix = "virtual_hosts[payments].routes[payments/0/0].route.weighted_clusters.clusters["
    assert all(path.startswith(prefix) for path in fields), fields


def test_an_added_service_adds_its_cluster_and_endpoints(served, tmp_path, capsys):
    policies = candidate(served, tmp_path)
    (policies.path / "orders.yaml").write_text(ORDERS)

    result = diff(served, capsys, policies.path, "--output", "json")

    assert result.returncode == 1, result.stderr
    found = changes(result)
    assert found[("cds", "orders")]["change"] == "added"
    assert found[("eds", "orders")]["change"] == "added"
    assert found[("rds", "edge")]["change"] == "changed"
    fields = found[("rds", "edge")]["fields"]
    assert {f["path"] for f in fields} == {"virtual_hosts[orders]"}
    assert fields[0]["before_absent"] and fields[0]["after"]["domains"] == ["orders.example"]
    assert not any(c["change"] == "removed" for c in found.values())


def test_a_removed_route_removes_what_only_it_used(served, tmp_path, capsys):
    policies = candidate(served, tmp_path)
    policies.replace(policies.routes_file, "")

    result = diff(served, capsys, policies.path, "--output", "json")

    assert result.returncode == 1, result.stderr
    found = changes(result)
    removed = {key for key, c in found.items() if c["change"] == "removed"}
    assert {("cds", "payments|stable"), ("cds", "payments|canary")} <= removed
    assert found[("rds", "edge")]["change"] == "changed"
    text = diff(served, capsys, policies.path).stdout
    assert "- cds payments|stable (removed)" in text
    assert "      virtual_hosts: [{" in text and text.endswith("-> (absent)\n")


def test_an_invalid_directory_is_exit_2_with_located_errors(served, tmp_path, capsys):
    policies = candidate(served, tmp_path)
    policies.replace(policies.routes_file, SplitRoute(weights={"stable": 90, "canary": -1}).yaml())

    result = diff(served, capsys, policies.path)

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "routes.yaml:13" in result.stderr
    assert "nothing was compared" in result.stderr


def test_a_server_that_does_not_answer_is_exit_2(tmp_path, capsys):
    policies = PolicyDir.create(tmp_path / "policies")
    result = run_diff(capsys, str(policies.path), "--server", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")


def _diff_settles(
    served, capsys, directory: Path, changed: bool, resources: set[tuple[str, str]] | None = None
) -> Result:
    """Waits for the served configuration to differ (or not) from the directory's, and, given
    `resources`, for exactly those to differ: two overrides written one after the other may
    reach the served snapshot in two debounced rounds."""

    def settled() -> Result | None:
        result = diff(served, capsys, directory, "--output", "json")
        if (result.returncode == 1) != changed:
            return None
        return result if resources is None or set(changes(result)) == resources else None

    result: Result = wait_until(settled, 10, "the server to serve the change")
    return result


def test_the_servers_own_overrides_are_marked_as_theirs(served, tmp_path, capsys):
    server, policies = served
    directory = candidate(served, tmp_path).path
    endpoint = f"127.0.0.1:{policies.stable_port}"
    drain = server.admin_url + path_of("drain", {"service": "payments", "endpoint": endpoint})[1]
    weights = server.admin_url + path_of("get_weights", {"route": "payments"})[1]
    assert http("PUT", weights, {"weights": {"stable": 60, "canary": 40}}).status == 200
    assert http("PUT", drain, {}).status == 200
    try:
        expected = {("rds", "edge"), ("eds", "payments|stable")}
        found = changes(_diff_settles(served, capsys, directory, True, expected))
        override = "the server's weight override of HTTPRoute payments rule split, revision "
        rds = found[("rds", "edge")]
        assert rds["cause"].startswith(override), rds
        assert all(f["cause"] == rds["cause"] for f in rds["fields"])
        eds = found[("eds", "payments|stable")]
        assert eds["cause"].startswith(f"the server's drain of payments {endpoint}"), eds

        text = diff(served, capsys, directory).stdout
        assert f"~ rds edge (changed: {override}" in text
        assert "clusters[payments|stable].weight: 60 -> 90\n" in text
        assert text.splitlines()[-1] == (
            "3 of 3 changes are the server's own (API weight overrides, drains, rollout "
            "steps), not the YAML's: loading this directory keeps them"
        )
    finally:
        http("DELETE", weights, None)
        http("DELETE", drain, None)
        _diff_settles(served, capsys, directory, changed=False)
