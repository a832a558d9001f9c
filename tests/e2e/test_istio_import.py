"""The guide's Istio VirtualService, imported, routes through a real Envoy exactly as written.

The VirtualService (header `canary-user: true` → canary, everyone else
90/10) and a DestinationRule naming the subsets go through `breakwater
import istio` with a Breakwater Service holding the two upstreams'
endpoints; the documents it writes are what the control plane serves.

How many requests: Envoy picks each request's weighted cluster on its own,
so the canary's share of n requests has a standard deviation of
sqrt(0.1 * 0.9 / n). With n = 2000 that is 0.67 points, and the ± 3 points
the split must hold are 4.5 standard deviations: a correct split fails
this test about once in 130 000 runs (two-sided normal tail at 4.47 sd).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import redirect_stderr

import pytest
import yaml

from breakwater.cli import main
from tests.e2e.mesh import Mesh
from tests.importers.test_istio_routes import GUIDE

SUBSETS = """\
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: app-service}
spec:
  host: app-service
  subsets:
  - {name: stable, labels: {version: stable}}
  - {name: canary, labels: {version: canary}}
"""

REQUESTS = 2000
CANARY_SHARE = 0.10
TOLERANCE = 0.03
STANDARD_DEVIATIONS = TOLERANCE / math.sqrt(CANARY_SHARE * (1 - CANARY_SHARE) / REQUESTS)


@pytest.fixture(scope="module")
def imported_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("istio-import")
    mesh = Mesh(workdir)
    try:
        stable = mesh.upstream("stable", service="app-service", subset="stable")
        canary = mesh.upstream("canary", service="app-service", subset="canary")
        services = workdir / "services"
        services.mkdir()
        service = {
            "apiVersion": "breakwater.dev/v1alpha1",
            "kind": "Service",
            "metadata": {"name": "app-service"},
            "spec": {
                "endpoints": [
                    {"address": "127.0.0.1", "port": stable.port, "labels": {"version": "stable"}},
                    {"address": "127.0.0.1", "port": canary.port, "labels": {"version": "canary"}},
                ]
            },
        }
        (services / "app-service.yaml").write_text(yaml.safe_dump(service))
        istio = workdir / "istio.yaml"
        istio.write_text(GUIDE + "---\n" + SUBSETS)
        out = workdir / "imported"
        report = io.StringIO()
        with redirect_stderr(report):
            code = main(
                ["import", "istio", str(istio), "-o", str(out), "--services", str(services)]
            )
        assert code == 0, report.getvalue()
        assert "could not carry over" not in report.getvalue(), report.getvalue()
        # The mesh writes its own Gateway `edge` (on a free port); the imported skeleton is not used.
        policies = "---\n".join(
            (out / name).read_text() for name in ("services.yaml", "routes.yaml")
        )
        mesh.start(policies)
        yield mesh
    finally:
        mesh.close()


def test_everyone_else_is_split_90_10(imported_mesh: Mesh) -> None:
    assert STANDARD_DEVIATIONS > 4.4
    result = imported_mesh.send(REQUESTS, concurrency=8)

    assert result.ok == REQUESTS, result.summary()
    assert abs(result.subset_fraction("canary") - CANARY_SHARE) <= TOLERANCE, result.summary()
    assert abs(result.subset_fraction("stable") - (1 - CANARY_SHARE)) <= TOLERANCE, result.summary()
    # Envoy's own counts per subset cluster agree with what the clients saw.
    stable = imported_mesh.cluster_stat("app-service|stable", "upstream_rq_total")
    canary = imported_mesh.cluster_stat("app-service|canary", "upstream_rq_total")
    assert (stable, canary) == (result.by_subset["stable"], result.by_subset["canary"])


def test_the_canary_user_header_goes_to_the_canary_every_time(imported_mesh: Mesh) -> None:
    before = imported_mesh.cluster_stat("app-service|stable", "upstream_rq_total")
    result = imported_mesh.send(300, concurrency=4, headers={"canary-user": "true"})

    assert result.by_subset == {"canary": 300}, result.summary()
    assert imported_mesh.cluster_stat("app-service|stable", "upstream_rq_total") == before
    other = imported_mesh.send(50, concurrency=4, headers={"canary-user": "false"})
    assert other.ok == 50 and "stable" in other.by_subset, other.summary()


def test_the_imported_route_is_what_envoy_holds(imported_mesh: Mesh) -> None:
    split = imported_mesh.route_action("app-virtual-service/1/0")
    assert split is not None
    weights = {c["name"]: c["weight"] for c in split["weighted_clusters"]["clusters"]}
    assert weights == {"app-service|stable": 90, "app-service|canary": 10}


def test_the_control_plane_serves_the_imported_route_to_the_proxy(imported_mesh: Mesh) -> None:
    answer = imported_mesh.admin_api("GET", "/v1/policies")
    (route,) = [p for p in answer["policies"] if p["kind"] == "HTTPRoute"]
    assert route["name"] == "app-virtual-service"
    assert route["valid"] is True
    assert route["file"].endswith("/policies.yaml")
    assert route["services"] == ["app-service"]
    assert imported_mesh.node_id(0) in route["proxies"]
