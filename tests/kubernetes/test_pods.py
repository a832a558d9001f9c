"""A real Envoy on the host reaches an upstream where a pod would be: at its own address in a
network namespace, the kind of address an EndpointSlice lists (never loopback)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh
from tests.support.pods import PodUpstream


def test_an_envoy_on_the_host_reaches_an_upstream_in_a_pod_network(
    tmp_path: Path, pod_upstream: PodUpstream
) -> None:
    service = f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: payments}}
spec:
  endpoints:
    - {{address: {pod_upstream.address}, port: {pod_upstream.port}}}
"""
    mesh = Mesh(tmp_path)
    try:
        mesh.start(service + PAYMENTS_ROUTE)

        result = mesh.send(20)

        assert result.by_instance == {"pod-1": 20}, result.summary()
        assert result.ok == 20, result.summary()
    finally:
        mesh.close()
