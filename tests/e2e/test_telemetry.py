"""Telemetry for real: Envoy's spans and access logs, received by an OTLP/gRPC receiver on loopback.

The collector is a Breakwater Service like any other (`protocol: grpc`, one
endpoint: the receiver this test starts), so Envoy gets its cluster over
ADS although no route sends to it. Envoy batches spans (every 5 s, or every
5 spans), OTLP log records (every second) and files (every 10 s), so the
tests wait for them.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from breakwater.devtools.otlp import OtlpReceiver, ReceivedSpan
from breakwater.devtools.ports import LOOPBACK, free_port
from breakwater.devtools.traffic import send_requests
from breakwater.devtools.waiting import wait_until
from breakwater.log_fields import ACCESS_LOG_FIELDS
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, resilience_policy, service

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
UNSAMPLED_TRACE_ID = "1af7651916cd43dd8448eb211c80319d"
ENVOY_SPAN_FLUSH = 5.0
"""Envoy's OpenTelemetry tracer sends what it holds at least this often (seconds)."""
ENVOY_FILE_FLUSH = 10.0
"""Envoy writes file sinks at least this often (its bootstrap's `file_flush_interval`)."""


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as started:
        yield started


def collector(receiver: OtlpReceiver) -> str:
    return f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: otel-collector}}
spec:
  protocol: grpc
  endpoints: [{{address: {LOOPBACK}, port: {receiver.port}}}]
"""


def telemetry(name: str, body: str, target: str | None = None) -> str:
    """A Telemetry document; `body` is its spec, indented two; `target` as `Gateway/edge`."""
    ref = ""
    if target is not None:
        kind, _, target_name = target.partition("/")
        ref = f"  targetRef: {{kind: {kind}, name: {target_name}}}\n"
    return f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: Telemetry
metadata: {{name: {name}}}
spec:
{ref}{body}"""


def get(url: str, headers: dict[str, str]) -> dict[str, Any]:
    """One request through the gateway; the upstream's answer names what it received."""
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=5.0) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def by_request_id(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {str(span.attributes.get("guid:x-request-id")): span for span in spans}


def test_spans_carry_the_service_the_route_the_cluster_and_the_tags_and_join_a_traceparent(
    mesh: Mesh, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Envoy reads environment tags from its own environment, which it inherits.
    monkeypatch.setenv("BREAKWATER_E2E_ZONE", "zone-a")
    only = mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only")
        + PAYMENTS_ROUTE
        + collector(receiver)
        + telemetry(
            "fleet",
            """\
  tracing:
    openTelemetry: {service: otel-collector, serviceName: edge-gateway}
    tags:
      - {name: env, literal: prod}
      - {name: user, header: x-user-id, default: anonymous}
      - {name: zone, environment: BREAKWATER_E2E_ZONE}
""",
        )
    )

    unsampled_at = time.monotonic()
    unsampled = get(mesh.url + "/pay", {"traceparent": f"00-{UNSAMPLED_TRACE_ID}-{PARENT_ID}-00"})
    joined = get(
        mesh.url + "/pay",
        {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "x-user-id": "u-42"},
    )
    fresh = get(mesh.url + "/pay", {})

    spans = by_request_id(receiver.wait_for_spans(2))
    sent_on = {r.headers.get("x-request-id"): r.headers.get("traceparent") for r in only.seen()}
    span = spans[joined["request_id"]]
    assert span.service_name == "edge-gateway"
    assert span.name == "GET payments/0/0"
    assert span.attributes["route_name"] == "payments/0/0"
    assert span.attributes["upstream_cluster"] == "payments"
    assert span.attributes["response_flags"] == "-"
    assert span.attributes["http.status_code"] == "200"
    assert span.attributes["env"] == "prod"
    assert span.attributes["user"] == "u-42"
    assert span.attributes["zone"] == "zone-a"
    # The incoming traceparent: the same trace, and its span is this span's parent.
    assert span.trace_id == TRACE_ID
    assert span.parent_span_id == PARENT_ID
    # Propagated: the upstream is handed a traceparent whose parent is Envoy's span.
    assert sent_on[joined["request_id"]] == f"00-{TRACE_ID}-{span.span_id}-01"

    root = spans[fresh["request_id"]]
    assert root.parent_span_id == ""
    assert root.trace_id not in ("", TRACE_ID)
    assert root.attributes["user"] == "anonymous"
    assert sent_on[fresh["request_id"]] == f"00-{root.trace_id}-{root.span_id}-01"

    # A trace its caller did not sample goes on unsampled, and Envoy exports no span of it.
    passed_on = str(sent_on[unsampled["request_id"]])
    assert passed_on.startswith(f"00-{UNSAMPLED_TRACE_ID}-") and passed_on.endswith("-00")
    time.sleep(max(0.0, unsampled_at + ENVOY_SPAN_FLUSH + 1.0 - time.monotonic()))
    assert unsampled["request_id"] not in by_request_id(receiver.spans())
    assert len(receiver.spans()) == 2


def test_sampling_percent_10_traces_one_request_in_ten(mesh: Mesh, receiver: OtlpReceiver) -> None:
    requests = 2000
    mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only")
        + PAYMENTS_ROUTE
        + collector(receiver)
        + telemetry(
            "fleet",
            """\
  tracing:
    openTelemetry: {service: otel-collector}
    samplingPercent: 10
""",
        )
    )

    result = mesh.send(requests, concurrency=8, max_duration=60.0)
    assert result.ok == requests, result.summary()

    # Envoy counts each decision; every sampled request's span reaches the receiver.
    sampled = wait_until(
        lambda: mesh.stats().get("http.edge.tracing.random_sampling"),
        5.0,
        "Envoy's sampling counter",
    )
    spans = receiver.wait_for_spans(sampled, timeout=ENVOY_SPAN_FLUSH * 3)
    share = 100 * len(spans) / requests
    print(f"samplingPercent 10: {len(spans)} spans of {requests} requests = {share:.1f} %")
    assert len(spans) == sampled
    assert 7.0 <= share <= 13.0, share


def test_access_log_lines_are_json_with_the_trace_id_and_name_the_bulkhead_that_refused(
    mesh: Mesh, receiver: OtlpReceiver
) -> None:
    concurrent = 10
    log_file = mesh.workdir / "access.json"
    mesh.upstream("only", service="payments", latency=1.0)
    mesh.start(
        service("payments", "only")
        + PAYMENTS_ROUTE
        + collector(receiver)
        + resilience_policy(
            "payments-bulkhead",
            f"""\
  bulkhead:
    maxConcurrentRequests: 2
    maxQueuedRequests: {concurrent}
""",
        )
        + telemetry(
            "fleet",
            f"""\
  tracing:
    openTelemetry: {{service: otel-collector}}
  accessLog:
    to: [stdout, {{file: {log_file}}}, {{openTelemetry: {{service: otel-collector}}}}]
""",
        )
    )

    result = mesh.send(concurrent, concurrency=concurrent)
    assert sorted(r.status or 0 for r in result.records) == [200] * 2 + [503] * (concurrent - 2)

    lines = wait_until(
        lambda: _lines(log_file, concurrent), ENVOY_FILE_FLUSH + 5.0, "the access log lines"
    )
    spans = by_request_id(receiver.wait_for_spans(concurrent))
    for line in lines:
        assert set(ACCESS_LOG_FIELDS) <= set(line), line
        assert line["method"] == "GET" and line["path"] == "/"
        assert line["upstream_cluster"] == "payments"
        assert line["route_name"] == "payments/0/0"
        assert line["trace_id"] == spans[line["request_id"]].trace_id
    refused = [line for line in lines if line["response_code"] == 503]
    assert len(refused) == concurrent - 2
    assert {line["response_flags"] for line in refused} == {"UO"}
    assert {spans[line["request_id"]].attributes["response_flags"] for line in refused} == {"UO"}
    assert {line["response_flags"] for line in lines if line["response_code"] == 200} == {"-"}

    records = receiver.wait_for_logs(concurrent)
    by_id = {line["request_id"]: line for line in lines}
    for record in records:
        line = by_id[record.attributes["request_id"]]
        assert record.trace_id == line["trace_id"]
        assert record.attributes["response_flags"] == line["response_flags"]
        assert record.resource["service.name"] == "edge"
        assert record.body == f"GET / {line['response_code']} {line['response_flags']}"


def _lines(path: Path, count: int) -> list[dict[str, Any]] | None:
    """The file's JSON lines once there are `count` of them."""
    if not path.exists():
        return None
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    return lines if len(lines) >= count else None


def test_turning_tracing_on_and_off_for_one_gateway_reaches_envoy_without_a_restart(
    mesh: Mesh, receiver: OtlpReceiver
) -> None:
    side_port = free_port()
    side_url = f"http://{LOOPBACK}:{side_port}"
    mesh.upstream("only", service="payments")
    two_gateways = (
        service("payments", "only")
        + f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: Gateway
metadata: {{name: side}}
spec:
  address: {LOOPBACK}
  port: {side_port}
  nodeSelector: {{cluster: edge}}
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {{name: payments}}
spec:
  gateways: [edge, side]
  rules:
    - backends: [{{service: payments}}]
"""
        + collector(receiver)
    )
    mesh.start(two_gateways)
    pid = mesh.envoy.pid

    def spans_of(gateway: str) -> int:
        return sum(1 for span in receiver.spans() if span.service_name == gateway)

    # On: the collector's cluster arrives with the listeners that name it (they wait for it).
    traced = two_gateways + telemetry(
        "fleet", "  tracing:\n    openTelemetry: {service: otel-collector}\n"
    )
    mesh.write_policies(traced)
    mesh.wait_for(lambda: _traces(mesh, "edge") and _traces(mesh, "side"), 10.0, "tracing on")
    assert mesh.send(10).ok == 10
    assert send_requests(side_url, 10).ok == 10
    mesh.wait_for(lambda: spans_of("edge") == 10 and spans_of("side") == 10, 15.0, "spans")

    # Off for edge alone.
    mesh.write_policies(
        traced + telemetry("edge-off", "  tracing: {disabled: true}\n", "Gateway/edge")
    )
    mesh.wait_for(lambda: not _traces(mesh, "edge"), 10.0, "Envoy to drop edge's tracing")
    assert _traces(mesh, "side")

    sent_at = time.monotonic()
    assert mesh.send(10).ok == 10
    assert send_requests(side_url, 10).ok == 10
    mesh.wait_for(lambda: spans_of("side") == 20, 15.0, "the side gateway's new spans")
    # Whatever Envoy still held for edge would have been sent by now.
    time.sleep(max(0.0, sent_at + ENVOY_SPAN_FLUSH + 1.0 - time.monotonic()))
    assert spans_of("edge") == 10
    assert mesh.envoy.pid == pid
    assert mesh.stats().get("listener_manager.lds.update_rejected", 0) == 0


def _traces(mesh: Mesh, gateway: str) -> bool:
    """Whether the gateway's active listener, as Envoy holds it now, has tracing."""
    for config in mesh.envoy.config_dump("dynamic_listeners")["configs"]:
        if config.get("name") != gateway:
            continue
        listener = config.get("active_state", {}).get("listener", {})
        for chain in listener.get("filter_chains", []):
            for network_filter in chain.get("filters", []):
                if "tracing" in network_filter.get("typed_config", {}):
                    return True
    return False
