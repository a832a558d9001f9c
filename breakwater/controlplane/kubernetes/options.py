"""What `serve --kubernetes` is told: where the API server is and which namespaces to read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from breakwater.defaults import (
    KUBERNETES_BACKOFF_CAP,
    KUBERNETES_BACKOFF_INITIAL,
    KUBERNETES_SYNC_TIMEOUT,
    LEASE_DURATION,
)


@dataclass(frozen=True)
class KubernetesOptions:
    kubeconfig: Path | None = None
    """A kubeconfig file (its current context); None: the pod's service account (in-cluster)."""
    namespaces: tuple[str, ...] = ()
    """The namespaces whose objects are read; empty: every namespace."""
    sync_timeout: float = KUBERNETES_SYNC_TIMEOUT
    """How long `serve` waits at start for every kind's first list before it serves anyway."""
    backoff_initial: float = KUBERNETES_BACKOFF_INITIAL
    backoff_cap: float = KUBERNETES_BACKOFF_CAP
    control_namespace: str | None = None
    """Where the Lease and the state ConfigMaps live; None: the pod's own namespace (or the
    kubeconfig context's, or `default`)."""
    lease_duration: float = LEASE_DURATION
    """Seconds without a renewal before another replica takes the Lease over."""


__all__ = ["KubernetesOptions"]
