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
