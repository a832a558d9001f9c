"""Bootstraps: the shape Envoy needs, checked by Envoy itself."""

from __future__ import annotations

import json
import subprocess

import pytest

from breakwater.controlplane.bootstrap import XDS_CLUSTER, render_bootstrap
from breakwater.devtools.envoy import find_envoy


def test_sotw_bootstrap_shape():
    bootstrap = render_bootstrap(
        "edge-1", "edge", [("127.0.0.1", 18000), ("127.0.0.2", 18000)], 19000, False, {"zone": "a"}
    )
    assert bootstrap["node"] == {"id": "edge-1", "cluster": "edge", "metadata": {"zone": "a"}}
    ads = bootstrap["dynamic_resources"]["ads_config"]
    assert ads["api_type"] == "GRPC" and ads["transport_api_version"] == "V3"
    (grpc_service,) = ads["grpc_services"]
    assert grpc_service["envoy_grpc"]["cluster_name"] == XDS_CLUSTER
    for key in ("cds_config", "lds_config"):
        assert bootstrap["dynamic_resources"][key] == {"ads": {}, "resource_api_version": "V3"}
    (cluster,) = bootstrap["static_resources"]["clusters"]
    assert cluster["type"] == "STATIC"
    endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"] for e in endpoints] == [
        {"address": "127.0.0.1", "port_value": 18000},
        {"address": "127.0.0.2", "port_value": 18000},
    ]
    options = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in options["explicit_http_config"]
    assert bootstrap["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 19000,
    }


def test_delta_and_dns_names():
    bootstrap = render_bootstrap("n", "c", [("xds.internal", 18000)], 19000, delta=True)
    assert bootstrap["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    assert bootstrap["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"
    assert "metadata" not in bootstrap["node"]


@pytest.mark.parametrize(
    ("node_id", "addresses", "admin_port"),
    [("", [("127.0.0.1", 1)], 1), ("n", [], 1), ("n", [("127.0.0.1", 0)], 1), ("n", [("h", 1)], 0)],
)
def test_bad_arguments_are_refused(node_id, addresses, admin_port):
    with pytest.raises(ValueError):
        render_bootstrap(node_id, "c", addresses, admin_port)


@pytest.mark.parametrize("delta", [False, True])
def test_envoy_accepts_the_bootstrap(tmp_path, delta):
    try:
        envoy = find_envoy()
    except Exception as error:  # pragma: no cover - depends on the environment
        pytest.skip(str(error))
    bootstrap = render_bootstrap(
        "edge-1", "edge", [("127.0.0.1", 18000), ("localhost", 18001)], 19000, delta, {"k": "v"}
    )
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(bootstrap))
    result = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
