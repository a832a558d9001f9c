"""Check translated resources against a real Envoy without an xDS server.

`envoy --mode validate` loads a bootstrap, builds every listener, route and
cluster, and exits 0 or 1 without binding ports or resolving names. Dynamic
resources cannot be validated that way, so the resources are folded into a
static bootstrap first: EDS clusters become STATIC with their assignment
inlined, and each listener's RDS reference is replaced by the route
configuration itself. Envoy checks inline route configurations against the
known clusters, so a route pointing at a cluster that was not emitted fails.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import json_format
from google.protobuf.message import Message

from breakwater.devtools.envoy import find_envoy
from breakwater.xds_types import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
)

ENVOY = Path(find_envoy())


@dataclass(frozen=True)
class EnvoyVerdict:
    ok: bool
    returncode: int
    output: str
    bootstrap: str


def _static_cluster(
    cluster: cluster_pb2.Cluster, assignments: Mapping[str, endpoint_pb2.ClusterLoadAssignment]
) -> cluster_pb2.Cluster:
    static = cluster_pb2.Cluster()
    static.CopyFrom(cluster)
    if static.type == cluster_pb2.Cluster.DiscoveryType.EDS:
        static.ClearField("eds_cluster_config")
        static.type = cluster_pb2.Cluster.DiscoveryType.STATIC
        assignment = assignments.get(cluster.name)
        if assignment is None:
            assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster.name)
        static.load_assignment.CopyFrom(assignment)
    return static


def _static_listener(
    listener: listener_pb2.Listener, route_configs: Mapping[str, route_pb2.RouteConfiguration]
) -> listener_pb2.Listener:
    static = listener_pb2.Listener()
    static.CopyFrom(listener)
    for chain in static.filter_chains:
        for network_filter in chain.filters:
            manager = hcm_pb2.HttpConnectionManager()
            if not network_filter.typed_config.Unpack(manager):
                continue
            if manager.HasField("rds"):
                name = manager.rds.route_config_name
                manager.ClearField("rds")
                manager.route_config.CopyFrom(
                    route_configs.get(name, route_pb2.RouteConfiguration(name=name))
                )
                network_filter.typed_config.Pack(manager, deterministic=True)
    return static


def static_bootstrap(resources: Mapping[str, Sequence[Message]]) -> bootstrap_pb2.Bootstrap:
    """Everything the resources say, as a bootstrap Envoy can load without a control plane."""
    assignments = {
        a.cluster_name: a
        for a in resources.get(ENDPOINT_TYPE, [])
        if isinstance(a, endpoint_pb2.ClusterLoadAssignment)
    }
    route_configs = {
        r.name: r
        for r in resources.get(ROUTE_TYPE, [])
        if isinstance(r, route_pb2.RouteConfiguration)
    }
    bootstrap = bootstrap_pb2.Bootstrap()
    bootstrap.node.id = "validate"
    bootstrap.node.cluster = "validate"
    for cluster in resources.get(CLUSTER_TYPE, []):
        assert isinstance(cluster, cluster_pb2.Cluster)
        bootstrap.static_resources.clusters.append(_static_cluster(cluster, assignments))
    for listener in resources.get(LISTENER_TYPE, []):
        assert isinstance(listener, listener_pb2.Listener)
        bootstrap.static_resources.listeners.append(_static_listener(listener, route_configs))
    return bootstrap


def validate_with_envoy(
    resources: Mapping[str, Sequence[Message]], envoy: Path = ENVOY, timeout: float = 60.0
) -> EnvoyVerdict:
    """Run `envoy --mode validate` on the resources; `ok` is True when Envoy accepts them."""
    text = json_format.MessageToJson(static_bootstrap(resources), preserving_proto_field_name=True)
    with tempfile.TemporaryDirectory(prefix="breakwater-validate-") as workdir:
        config = Path(workdir) / "bootstrap.json"
        config.write_text(text)
        completed = subprocess.run(
            [
                os.fspath(envoy),
                "--mode",
                "validate",
                "--config-path",
                os.fspath(config),
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    return EnvoyVerdict(
        ok=completed.returncode == 0,
        returncode=completed.returncode,
        output=completed.stdout + completed.stderr,
        bootstrap=text,
    )
