"""What the fleet says about each policy and service, as the fleet package's own values.

`status` builds these from the xDS streams and the fleet's numbers; the API
turns them into its answer models (`api/models.py`), and the metrics read them
directly. They import nothing but the standard library, so that the API's
models can name `PolicyProxyState` without loading the fleet's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PolicyProxyState = Literal["applied", "pending", "rejected"]
POLICY_PROXY_STATES: tuple[PolicyProxyState, ...] = ("applied", "pending", "rejected")


@dataclass(frozen=True)
class ProxyPolicyView:
    """One proxy's hold on one policy."""

    node_id: str
    group: str
    state: PolicyProxyState
    message: str = ""
    """Envoy's NACK text when rejected."""


@dataclass(frozen=True)
class EndpointLoadView:
    """One endpoint's requests over the window, from the proxies' load reports."""

    address: str
    succeeded: int
    failed: int
    in_flight: int


@dataclass(frozen=True)
class DetectorEjectionsView:
    """The ejections one of Envoy's outlier detectors enforced on one cluster."""

    detector: str
    """Envoy's name for it: `consecutive_5xx`, `success_rate`, `failure_percentage`, ..."""
    total: int
    """Since the control plane started."""
    recent: int
    """In the window."""
    proxies: int
    """Proxies that enforced at least one of the recent ones."""


@dataclass(frozen=True)
class FailingHostView:
    """One of the hosts with the most failed requests over the window, from the load reports.

    Envoy names no ejected host in its reports: `ejected_on` is an inference, said as one.
    On a proxy whose gauge says k hosts are ejected now, the k hosts with the most failures
    there are taken to be the ejected ones.
    """

    address: str
    failed: int
    requests: int
    """Requests that completed (succeeded or failed)."""
    proxies_failing: int
    """Proxies on which this host failed at least one request."""
    proxies_reporting: int
    """Proxies whose load reports carry this host."""
    ejected_on: int
    """Proxies that eject hosts now and on which this host is among the most failing."""
    last_failed_at: float | None
    """Unix time of the last load report in which it failed a request."""


@dataclass(frozen=True)
class EjectionCauses:
    """Why one cluster's hosts were ejected, over a window: what one replica's proxies say
    (published in its fleet share) or the sum over replicas."""

    detectors: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Detector → (ejections, proxies that enforced them)."""
    hosts: tuple[FailingHostView, ...] = ()
    first_ejection_at: float | None = None
    """Unix time of the first report in the window carrying an ejection."""


@dataclass(frozen=True)
class LiveEffectView:
    """What one cluster (a service or one of its subsets) is doing now, over the fleet."""

    service: str
    subset: str | None
    cluster: str
    window_seconds: float
    hosts: int | None = None
    hosts_healthy: int | None = None
    hosts_ejected: int | None = None
    proxies_reporting: int = 0
    proxies_ejecting: int = 0
    requests_active: int = 0
    requests_pending: int = 0
    busiest_proxy_active: int = 0
    concurrency_limit: int | None = None
    ejections_total: int = 0
    retries_total: int = 0
    bulkhead_rejections_total: int = 0
    timeouts_total: int = 0
    requests_total: int = 0
    requests_per_second: float = 0.0
    retries_per_second: float = 0.0
    error_percent: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    endpoints: tuple[EndpointLoadView, ...] = field(default_factory=tuple)
    ejections_by_detector: tuple[DetectorEjectionsView, ...] = ()
    failing_hosts: tuple[FailingHostView, ...] = ()


@dataclass(frozen=True)
class PolicyStatusView:
    """A ResiliencePolicy: where it applies, how many proxies hold it, what it does now."""

    name: str
    target: str
    clusters: list[str]
    route_configs: list[str]
    proxies: dict[PolicyProxyState, int]
    rejections: list[ProxyPolicyView]
    per_proxy: list[ProxyPolicyView]
    effect: list[LiveEffectView]
    not_applied: list[str]
    """What the policy asks that the proxyless gRPC clients holding it cannot carry out, one
    sentence per field: `not applied on 3 proxyless clients: least-request is not ...`."""


@dataclass(frozen=True)
class ServiceHealthView:
    """The short health line of one service or subset."""

    service: str
    subset: str | None
    hosts: int | None
    hosts_healthy: int | None
    hosts_ejected: int | None
    requests_per_second: float
    error_percent: float | None
    p99_ms: float | None
