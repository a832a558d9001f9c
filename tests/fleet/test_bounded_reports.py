"""Reports a proxy could send but Envoy never would, over real gRPC to a running control
plane: each is refused whole with INVALID_ARGUMENT and a sentence, nothing of it counts,
no traceback is logged, and `/metrics` keeps to the clusters the server serves."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import load_report_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc
from envoy.service.load_stats.v3 import lrs_pb2
from google.protobuf import struct_pb2

from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.controlplane.limits import MAX_ENDPOINTS_PER_REPORT, MAX_NODE_METADATA_BYTES
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import LOOPBACK
from breakwater.devtools.prometheus import metric_sum, metrics_text, samples
from breakwater.devtools.waiting import wait_until
from breakwater.xds_types import CLUSTER_TYPE
from tests.fleet.otlp import export
from tests.support.ads import BlockingAdsClient, discovery_request, proxy_node
from tests.support.policies import STABLE, PolicyDir
from tests.support.reports import export_metrics, send_load_reports

RETRY = "cluster.upstream_rq_retry"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneThread]:
    workdir = tmp_path_factory.mktemp("bounded-reports")
    policies = PolicyDir.create(workdir / "policies")
    with (
        ControlPlaneThread(policies.path, workdir / "state") as thread,
        BlockingAdsClient(thread.xds_port, "watcher") as proxy,
    ):
        proxy.request(CLUSTER_TYPE)
        proxy.recv(5.0)  # its group is built: the payments clusters are served
        yield thread


def retries(plane: ControlPlaneThread) -> float:
    return metric_sum(metrics_text(plane.admin_url), "breakwater_retries_total", subset="stable")


def assert_refused(error: grpc.RpcError | None, *words: str) -> None:
    assert error is not None, "the report was accepted"
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    details = error.details() or ""
    assert details.endswith("."), details
    for word in words:
        assert word in details, details


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


def test_code_classes_other_than_1_to_5_are_refused_and_metrics_stay_bounded(
    plane: ControlPlaneThread,
) -> None:
    before = len(metrics_text(plane.admin_url))
    for flush in range(5):
        bogus = {f"{flush}-{n}": 1 for n in range(2000)}
        assert_refused(export_metrics(plane.xds_port, export(STABLE, responses=bogus)), "class")
    assert export_metrics(plane.xds_port, export(STABLE, responses={"2": 7, "5": 1})) is None

    text = metrics_text(plane.admin_url)
    series = samples(text, "breakwater_upstream_requests_total")
    assert {s.labels["code_class"] for s in series} <= {f"{d}xx" for d in "12345"}
    assert len(text) < before + 4096


def hostile(name: str) -> Any:
    """A flush that also counts 3 retries, with one impossible part."""
    request = export(STABLE, counters={RETRY: 3}, latency=((1.0, 2.0), (1, 1, 0)))
    metric = request.resource_metrics[0].scope_metrics[0].metrics
    histogram = metric[-1].histogram.data_points[0]
    if name == "buckets that do not fit the bounds":
        del histogram.bucket_counts[:]
        histogram.bucket_counts.extend([1])
    elif name == "bounds out of order":
        del histogram.explicit_bounds[:]
        histogram.explicit_bounds.extend([2.0, 1.0])
    elif name == "a count that is not the buckets' sum":
        histogram.count = 99
    elif name == "a negative sum":
        histogram.sum = -5.0
    elif name == "a sum larger than the buckets allow":
        histogram.sum = 1e9
    elif name == "a negative counter":
        metric[0].sum.data_points[0].as_int = -3
    elif name == "a counter that is not a number":
        metric[0].sum.data_points[0].as_double = math.nan
    elif name == "a negative gauge":
        extra = export(STABLE, gauges={"cluster.membership_total": -1})
        metric.extend(extra.resource_metrics[0].scope_metrics[0].metrics)
    return request


@pytest.mark.parametrize(
    "name",
    [
        "buckets that do not fit the bounds",
        "bounds out of order",
        "a count that is not the buckets' sum",
        "a negative sum",
        "a sum larger than the buckets allow",
        "a negative counter",
        "a counter that is not a number",
        "a negative gauge",
    ],
)
def test_an_impossible_flush_is_refused_whole_without_a_traceback(
    plane: ControlPlaneThread, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = retries(plane)
    assert_refused(export_metrics(plane.xds_port, hostile(name)), STABLE)
    assert retries(plane) == before
    assert_no_traceback(caplog)
    assert export_metrics(plane.xds_port, export(STABLE, counters={RETRY: 3})) is None
    assert retries(plane) == before + 3


def load_report(endpoints: int, *, succeeded: int = 1, interval_seconds: int = 5) -> Any:
    request = lrs_pb2.LoadStatsRequest()
    request.node.id = "lrs-proxy"
    stats = request.cluster_stats.add(cluster_name=STABLE)
    stats.load_report_interval.seconds = interval_seconds
    locality = stats.upstream_locality_stats.add()
    for n in range(endpoints):
        locality.upstream_endpoint_stats.append(
            load_report_pb2.UpstreamEndpointStats(
                address=address_pb2.Address(
                    socket_address=address_pb2.SocketAddress(
                        address=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", port_value=80
                    )
                ),
                total_successful_requests=succeeded,
                total_issued_requests=succeeded,
            )
        )
    return request


def endpoint_loads(plane: ControlPlaneThread) -> int:
    assert plane.plane is not None
    report = plane.plane.fleet.stats.recent([STABLE], time.monotonic())
    return len(report.endpoints)


@pytest.mark.parametrize(
    "request_, words",
    [
        (load_report(MAX_ENDPOINTS_PER_REPORT + 1), ("endpoints", str(MAX_ENDPOINTS_PER_REPORT))),
        (load_report(3, interval_seconds=-5), ("interval",)),
        (load_report(3, succeeded=2**62), ("requests",)),
    ],
    ids=["too many endpoints", "a negative interval", "an impossible count"],
)
def test_an_impossible_load_report_is_refused_whole(
    plane: ControlPlaneThread,
    request_: Any,
    words: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = endpoint_loads(plane)
    assert_refused(send_load_reports(plane.xds_port, [request_]), *words)
    assert endpoint_loads(plane) == before
    assert_no_traceback(caplog)


def test_node_metadata_over_the_limit_is_refused_on_xds(plane: ControlPlaneThread) -> None:
    node = proxy_node("fat-node")
    node.metadata.fields["blob"].CopyFrom(
        struct_pb2.Value(string_value="x" * (MAX_NODE_METADATA_BYTES + 1))
    )
    with grpc.insecure_channel(f"{LOOPBACK}:{plane.xds_port}") as channel:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        call = stub.StreamAggregatedResources(
            iter([discovery_request(CLUSTER_TYPE, node=node)]), timeout=10
        )
        with pytest.raises(grpc.RpcError) as raised:
            list(call)
    assert_refused(raised.value, "metadata", str(MAX_NODE_METADATA_BYTES))
    assert plane.plane is not None
    assert not plane.plane.streams.by_node("fat-node")


def test_reports_of_nodes_without_a_stream_expire(tmp_path: Any) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    options = FleetOptions(window=0.5, stale_after=0.2)
    with ControlPlaneThread(policies.path, tmp_path / "state", fleet=options) as thread:
        assert thread.plane is not None
        stats = thread.plane.fleet.stats
        for n in range(50):
            assert export_metrics(thread.xds_port, export(STABLE), node_id=f"gone-{n}") is None
        assert stats.proxy_count() == 50

        def only_the_late_one_left() -> bool:
            # The next report after the window (the fleet looks at most once a second) finds
            # the others expired.
            assert export_metrics(thread.xds_port, export(STABLE), node_id="late") is None
            return stats.proxy_count() == 1

        wait_until(only_the_late_one_left, 3, "only the late proxy left")
