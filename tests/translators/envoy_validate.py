"""Check translated resources against a real Envoy without an xDS server.

`envoy --mode validate` loads a bootstrap, builds every listener, route and
cluster, and exits 0 or 1 without binding ports or resolving names. Dynamic
resources cannot be validated that way, so the resources are folded into a
static bootstrap first: EDS clusters become STATIC with their assignment
inlined, and each listener's RDS reference is replaced by the route
configuration itself. Envoy checks inline route configurations against the
known clusters, so a route pointing at a cluster that was not emitted fails.
A listener's TLS names certificate files on the Envoy host, which Envoy
opens while validating: they are pointed at a certificate made for the run,
so the rest of the TLS context is still checked as it was translated.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
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


Certificate = tuple[str, str]
"""Paths of a PEM certificate chain and its private key."""


def _local_certificate(
    chain: listener_components_pb2.FilterChain, certificate: Certificate
) -> None:
    """The chain's TLS, reading `certificate` instead of files on some Envoy host."""
    context = tls_pb2.DownstreamTlsContext()
    if not chain.transport_socket.typed_config.Unpack(context):
        return
    for pair in context.common_tls_context.tls_certificates:
        pair.certificate_chain.filename, pair.private_key.filename = certificate
    chain.transport_socket.typed_config.Pack(context, deterministic=True)


def _static_listener(
    listener: listener_pb2.Listener,
    route_configs: Mapping[str, route_pb2.RouteConfiguration],
    certificate: Certificate | None = None,
) -> listener_pb2.Listener:
    static = listener_pb2.Listener()
    static.CopyFrom(listener)
    for chain in static.filter_chains:
        if certificate is not None and chain.HasField("transport_socket"):
            _local_certificate(chain, certificate)
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


def static_bootstrap(
    resources: Mapping[str, Sequence[Message]], certificate: Certificate | None = None
) -> bootstrap_pb2.Bootstrap:
    """Everything the resources say, as a bootstrap Envoy can load without a control plane;
    listeners with TLS read `certificate` when given."""
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
        bootstrap.static_resources.listeners.append(
            _static_listener(listener, route_configs, certificate)
        )
    return bootstrap


def _test_certificate(workdir: Path) -> Certificate:
    """A certificate and key for `localhost`, from a CA made for this run."""
    issued = trustme.CA().issue_cert("localhost")
    chain, key = workdir / "chain.pem", workdir / "key.pem"
    issued.private_key_pem.write_to_path(os.fspath(key))
    chain.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
    return os.fspath(chain), os.fspath(key)


def validate_with_envoy(
    resources: Mapping[str, Sequence[Message]], envoy: Path = ENVOY, timeout: float = 60.0
) -> EnvoyVerdict:
    """Run `envoy --mode validate` on the resources; `ok` is True when Envoy accepts them."""
    with tempfile.TemporaryDirectory(prefix="breakwater-validate-") as workdir:
        certificate = _test_certificate(Path(workdir))
        text = json_format.MessageToJson(
            static_bootstrap(resources, certificate), preserving_proto_field_name=True
        )
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
