"""The bootstrap's overload manager: what protects the Envoy process, whatever its listeners say.

A Gateway's `limits` bound one listener (`translators.envoy.limits`); these
bound the process, and live in the bootstrap because Envoy reads the overload
manager only there. Two resources are watched:

- the downstream connections of every listener together
  (`envoy.resource_monitors.global_downstream_max_connections`): past the cap
  Envoy closes each new connection as it is accepted, established ones keep
  flowing; it replaces the deprecated `overload.global_downstream_max_connections`
  runtime key and Envoy's warning that nothing caps connections;
- the heap (`envoy.resource_monitors.fixed_heap`, against `--max-heap`): at 90 %
  Envoy stops keeping connections alive (each answer closes its connection), at
  95 % it returns freed memory to the system, at 98 % it answers every new
  request 503 at once (`overload.envoy.overload_actions.stop_accepting_requests`).
"""

from __future__ import annotations

import re
from typing import Any

FIXED_HEAP = "envoy.resource_monitors.fixed_heap"
DOWNSTREAM_CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections"
REFRESH_INTERVAL = "0.25s"

HEAP_ACTIONS = (
    ("envoy.overload_actions.disable_http_keepalive", 0.90),
    ("envoy.overload_actions.shrink_heap", 0.95),
    ("envoy.overload_actions.stop_accepting_requests", 0.98),
)
"""Overload action → the share of `--max-heap` at which it starts."""

_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?)?\s*$")
MIN_HEAP = 16 * 1024**2
"""Envoy itself needs some megabytes before serving anything; below this it would shed at once."""


def parse_size(text: str) -> int:
    """`512Mi`, `1Gi`, `500M`, `1073741824` → bytes, as Kubernetes writes memory."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a size; give bytes or a number with a unit: 512Mi, 1Gi, 500M"
        )
    size = int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if size < MIN_HEAP:
        raise ValueError(f"{text!r} is below {MIN_HEAP // 1024**2}Mi, too small for Envoy's heap")
    return size


def overload_manager(
    max_heap_bytes: int | None, max_downstream_connections: int | None
) -> dict[str, Any] | None:
    """The bootstrap's `overload_manager`, or None when neither cap is asked for."""
    monitors: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    if max_downstream_connections is not None:
        if max_downstream_connections < 1:
            raise ValueError("the downstream connection cap must be 1 or more")
        monitors.append(
            {
                "name": DOWNSTREAM_CONNECTIONS,
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
                    "downstream_connections.v3.DownstreamConnectionsConfig",
                    "max_active_downstream_connections": max_downstream_connections,
                },
            }
        )
    if max_heap_bytes is not None:
        monitors.append(
            {
                "name": FIXED_HEAP,
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
                    "fixed_heap.v3.FixedHeapConfig",
                    "max_heap_size_bytes": max_heap_bytes,
                },
            }
        )
        actions.extend(
            {"name": name, "triggers": [{"name": FIXED_HEAP, "threshold": {"value": share}}]}
            for name, share in HEAP_ACTIONS
        )
    if not monitors:
        return None
    manager: dict[str, Any] = {"refresh_interval": REFRESH_INTERVAL, "resource_monitors": monitors}
    if actions:
        manager["actions"] = actions
    return manager
