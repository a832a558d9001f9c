"""What the benchmarks run: the sizes of each, and the fan-out scenario, which the fan-out,
Envoy and Sovereign benchmarks and the peers' recorded resources (`bench.peers.resources`)
all run: how many services, which route's weights move, and through which weights."""

from __future__ import annotations

from bench.policies import service_name

FANOUT_SERVICES = 20
ROUTE = service_name(0)
WEIGHTS = [(50, 50), (80, 20), (60, 40), (90, 10)]
"""The weights of push i are ``WEIGHTS[i % 4]``; the last one is the starting state again."""

TRANSLATE_SIZES = (100, 1000, 10000)
FANOUT_SIZES = (1000, 5000, 10000)
DELTA_SIZES = (1000,)
COLD_SIZES = (1000, 10000)
SOVEREIGN_SIZES = (1000, 5000, 10000)
ENVOYS = 10
FLEET_PROXIES = (1000,)
REGISTERED_INSTANCES = (10_000,)
"""Instances registered with one Service (`bench.registration`)."""
KUBERNETES_SERVICES = 1000
KUBERNETES_ENDPOINTS = 10
"""Per Service: 10 000 endpoints watched in all."""
EDIT_SIZES = (1000, 10000)
