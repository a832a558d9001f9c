"""Every gateway < one gateway < one route, merged field by field with provenance, as policies are;
tags merge by name, access log fields by field name, and the sinks, a list, are replaced."""

from __future__ import annotations

from pathlib import Path

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.message import Message

from breakwater.log_fields import ACCESS_LOG_FIELDS
from breakwater.translators.ir.gateways import access_log_fields
from breakwater.translators.policyset import PolicySet
from breakwater.translators.snapshot import node_group, translate
from breakwater.xds_types import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from tests.support.policies import load_policy_dir

LAYERS = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  endpoints: [{address: 127.0.0.1, port: 8080}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: collector}
spec:
  protocol: grpc
  endpoints: [{address: 127.0.0.1, port: 4317}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec: {port: 10000, nodeSelector: {cluster: edge}}
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {name: quiet}
spec: {port: 10001, nodeSelector: {cluster: quiet}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge, quiet]
  rules:
    - backends: [{service: payments}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {name: fleet}
spec:
  tracing:
    openTelemetry: {service: collector}
    samplingPercent: 1
    tags: [{name: env, literal: prod}, {name: user, header: x-user-id}]
  accessLog:
    fields: {protocol: null}
    to: [stdout, {file: /dev/stdout}]
---
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {name: edge}
spec:
  targetRef: {kind: Gateway, name: edge}
  tracing:
    openTelemetry: {serviceName: edge-proxy}
    samplingPercent: 20
    tags: [{name: env, literal: staging}]
  accessLog:
    fields: {client: "%DOWNSTREAM_REMOTE_ADDRESS%"}
    to: [stderr]
---
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {name: quiet}
spec:
  targetRef: {kind: Gateway, name: quiet}
  tracing: {disabled: true}
  accessLog: {disabled: true}
---
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {name: payments}
spec:
  targetRef: {kind: HTTPRoute, name: payments}
  tracing:
    overallSamplingPercent: 50
    tags: [{name: user, header: x-customer-id}]
"""


def load(tmp_path: Path) -> PolicySet:
    (tmp_path / "policies.yaml").write_text(LAYERS)
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is not None, [str(e) for e in errors]
    return policyset


def test_the_gateway_overrides_every_gateway_field_by_field(tmp_path: Path) -> None:
    effective = load(tmp_path).effective_telemetry("edge")
    tracing = effective.spec.tracing
    assert tracing is not None and tracing.open_telemetry is not None
    assert tracing.open_telemetry.service == "collector"
    assert tracing.open_telemetry.service_name == "edge-proxy"
    assert tracing.sampling_percent == 20
    assert {t.name: t.literal or t.header for t in tracing.tags} == {
        "env": "staging",
        "user": "x-user-id",
    }
    assert effective.provenance[("tracing", "open_telemetry", "service")] == "Telemetry/fleet"
    assert effective.provenance[("tracing", "open_telemetry", "service_name")] == "Telemetry/edge"
    assert effective.provenance[("tracing", "tags", "env")] == "Telemetry/edge"
    assert effective.provenance[("tracing", "tags", "user")] == "Telemetry/fleet"
    # Maps merge, lists replace: the fleet's `protocol: null` holds, its sinks do not.
    log = effective.spec.access_log
    assert log is not None and log.to is not None
    assert [sink.stderr for sink in log.to] == [True]
    fields = access_log_fields(log)
    assert "protocol" not in fields
    assert fields["client"] == "%DOWNSTREAM_REMOTE_ADDRESS%"
    assert set(fields) == set(ACCESS_LOG_FIELDS) - {"protocol"} | {"client"}


def test_a_route_takes_the_gateway_s_tracing_and_adds_its_own(tmp_path: Path) -> None:
    effective = load(tmp_path).effective_telemetry("edge", "payments")
    tracing = effective.spec.tracing
    assert tracing is not None
    assert (tracing.sampling_percent, tracing.overall_sampling_percent) == (20, 50)
    assert {t.name: t.literal or t.header for t in tracing.tags} == {
        "env": "staging",
        "user": "x-customer-id",
    }
    assert effective.provenance[("tracing", "tags", "user")] == "Telemetry/payments"
    assert effective.provenance[("tracing", "sampling_percent")] == "Telemetry/edge"


def _cluster_names(messages: list[Message]) -> list[str]:
    names = []
    for message in messages:
        assert isinstance(message, cluster_pb2.Cluster)
        names.append(message.name)
    return names


def _manager(listener: listener_pb2.Listener) -> hcm_pb2.HttpConnectionManager:
    manager = hcm_pb2.HttpConnectionManager()
    assert listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    return manager


def test_the_collector_is_a_cluster_only_of_the_proxies_that_export_to_it(tmp_path: Path) -> None:
    policyset = load(tmp_path)
    edge = translate(policyset, node_group(policyset, "edge", {}))
    quiet = translate(policyset, node_group(policyset, "quiet", {}))

    assert _cluster_names(edge[CLUSTER_TYPE]) == ["collector", "payments"]
    assert _cluster_names(quiet[CLUSTER_TYPE]) == ["payments"]

    (edge_listener,) = edge[LISTENER_TYPE]
    assert isinstance(edge_listener, listener_pb2.Listener)
    manager = _manager(edge_listener)
    assert manager.tracing.random_sampling.value == 20
    assert [log.name for log in manager.access_log] == ["envoy.access_loggers.stderr"]
    (quiet_listener,) = quiet[LISTENER_TYPE]
    assert isinstance(quiet_listener, listener_pb2.Listener)
    quiet_manager = _manager(quiet_listener)
    assert not quiet_manager.HasField("tracing")
    assert list(quiet_manager.access_log) == []

    # The route's own sampling goes on its Envoy routes, where the gateway traces.
    (edge_routes,) = edge[ROUTE_TYPE]
    assert isinstance(edge_routes, route_pb2.RouteConfiguration)
    route = edge_routes.virtual_hosts[0].routes[0]
    assert route.tracing.overall_sampling.numerator == 50
    assert route.tracing.random_sampling.numerator == 20
    (quiet_routes,) = quiet[ROUTE_TYPE]
    assert isinstance(quiet_routes, route_pb2.RouteConfiguration)
    assert not quiet_routes.virtual_hosts[0].routes[0].HasField("tracing")


def test_without_telemetry_every_gateway_logs_json_to_stdout_and_does_not_trace(
    tmp_path: Path,
) -> None:
    text = LAYERS.split("---\napiVersion: breakwater.dev/v1alpha1\nkind: Telemetry")[0]
    (tmp_path / "policies.yaml").write_text(text)
    policyset, errors = load_policy_dir(tmp_path)
    assert policyset is not None, errors
    resources = translate(policyset, frozenset(policyset.gateways))
    for listener in resources[LISTENER_TYPE]:
        assert isinstance(listener, listener_pb2.Listener)
        manager = _manager(listener)
        assert not manager.HasField("tracing")
        assert [log.name for log in manager.access_log] == ["envoy.access_loggers.stdout"]
    assert _cluster_names(resources[CLUSTER_TYPE]) == ["payments"]
