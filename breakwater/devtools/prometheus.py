"""Samples of Prometheus text format, as the admin API's `/metrics` serves it.

The text is parsed by `prometheus_client`, the library that writes it, so label
values with escapes, histograms and the `_total` / `_created` samples of counters
read exactly as a Prometheus server would read them. Names are sample names:
`breakwater_xds_acks_total`, `breakwater_change_to_ack_seconds_count`. The tests
and the benchmarks read the control plane's metrics through these.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from breakwater.client import http


def samples(text: str, name: str, **labels: str) -> list[Sample]:
    """Every sample called `name` whose labels include `labels` (other labels may be anything)."""
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample called `name` with these labels; None when there is none."""
    found = samples(text, name, **labels)
    return float(found[0].value) if found else None


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum over every sample called `name` with these labels, whatever their other labels.

    0 when there is none: a counter that has not counted yet is not exported.
    """
    return sum(float(sample.value) for sample in samples(text, name, **labels))


def metrics_text(admin_url: str, timeout: float = 10.0) -> str:
    """The whole of `/metrics` from an admin API (which must answer 200)."""
    reply = http("GET", f"{admin_url}/metrics", timeout=timeout)
    if reply.status != 200:
        raise AssertionError(f"{admin_url}/metrics answered {reply.status}: {reply.text[:300]}")
    return reply.text


def scrape(admin_url: str, name: str, **labels: str) -> float:
    """One sample from an admin API's `/metrics`; a sample that is not there fails the test."""
    value = metric(metrics_text(admin_url), name, **labels)
    if value is None:
        raise AssertionError(f"{name} {labels} is not in {admin_url}/metrics")
    return value
