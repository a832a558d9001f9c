"""OTLP export requests shaped like the ones Envoy's OpenTelemetry stats sink sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from breakwater.otlp.v1 import common_pb2, metrics_pb2

DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA


def _attributes(cluster: str, extra: Mapping[str, str]) -> list[common_pb2.KeyValue]:
    pairs = {"envoy.cluster_name": cluster, **extra}
    return [
        common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
        for k, v in pairs.items()
    ]


def export(
    cluster: str,
    *,
    counters: Mapping[str, int] = {},
    responses: Mapping[str, int] = {},
    gauges: Mapping[str, int] = {},
    latency: tuple[Sequence[float], Sequence[int]] | None = None,
) -> metrics_pb2.ExportMetricsServiceRequest:
    """One flush for one cluster: `counters` by Envoy stat name (deltas), `responses` by class digit."""
    metrics = []
    for name, value in counters.items():
        metric = metrics_pb2.Metric(name=name)
        metric.sum.aggregation_temporality = DELTA
        metric.sum.data_points.add(as_int=value).attributes.extend(_attributes(cluster, {}))
        metrics.append(metric)
    if responses:
        metric = metrics_pb2.Metric(name="cluster.upstream_rq_xx")
        metric.sum.aggregation_temporality = DELTA
        for digit, value in responses.items():
            point = metric.sum.data_points.add(as_int=value)
            point.attributes.extend(_attributes(cluster, {"envoy.response_code_class": digit}))
        metrics.append(metric)
    for name, value in gauges.items():
        metric = metrics_pb2.Metric(name=name)
        metric.gauge.data_points.add(as_int=value).attributes.extend(_attributes(cluster, {}))
        metrics.append(metric)
    if latency is not None:
        bounds, counts = latency
        metric = metrics_pb2.Metric(name="cluster.upstream_rq_time")
        metric.histogram.aggregation_temporality = DELTA
        bucket_point = metric.histogram.data_points.add(
            count=sum(counts), explicit_bounds=list(bounds), bucket_counts=list(counts)
        )
        bucket_point.attributes.extend(_attributes(cluster, {}))
        metrics.append(metric)
    request = metrics_pb2.ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.extend(metrics)
    return request
