"""Synthetic policy directories of N services, shaped like a real mesh's edge.

Every service has two endpoints labelled ``stable`` and ``canary``, two
subsets selecting them, a ResiliencePolicy (circuit breaker, bulkhead,
retry, timeouts, health check) and an HTTPRoute on the ``edge`` gateway
that splits 90/10 between the subsets, sticky on a user header. A fleet-wide
default policy sits under all of them. All routes hang off one gateway, so
the edge proxies receive one listener, one route configuration with N
virtual hosts, 2·N clusters and 2·N endpoint assignments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

API = "apiVersion: breakwater.dev/v1alpha1"
GATEWAY = "edge"
NODE_CLUSTER = "edge"
FILE_CHUNK = 500
"""Services per YAML file (the policy sources refuse files over 1 MiB)."""


def service_name(index: int) -> str:
    return f"svc-{index:05d}"


def _gateway(port: int) -> str:
    return f"""{API}
kind: Gateway
metadata:
  name: {GATEWAY}
spec:
  address: 127.0.0.1
  port: {port}
  nodeSelector:
    cluster: {NODE_CLUSTER}
---
{API}
kind: ResiliencePolicy
metadata:
  name: fleet-default
spec:
  timeout:
    request: 10s
    connect: 1s
  retry:
    attempts: 2
"""


def _service(index: int, upstream_port: int) -> str:
    name = service_name(index)
    host = f"127.0.{(index >> 8) & 0xFF}.{index & 0xFF or 1}"
    return f"""{API}
kind: Service
metadata:
  name: {name}
spec:
  protocol: http
  endpoints:
    - {{address: {host}, port: {upstream_port}, labels: {{version: stable}}}}
    - {{address: {host}, port: {upstream_port + 1}, labels: {{version: canary}}}}
  subsets:
    - name: stable
      labels: {{version: stable}}
    - name: canary
      labels: {{version: canary}}
---
{API}
kind: ResiliencePolicy
metadata:
  name: {name}
spec:
  targetRef: {{kind: Service, name: {name}}}
  circuitBreaker:
    consecutiveErrors: 5
    failureRateThreshold: 50
    minimumRequests: 20
    interval: 10s
    openDuration: 30s
  bulkhead:
    maxConcurrentRequests: 100
    maxQueuedRequests: 50
  retry:
    attempts: 3
    perTryTimeout: 500ms
    backoff:
      baseInterval: 25ms
      maxInterval: 250ms
  timeout:
    request: 3s
  healthCheck:
    interval: 5s
    http:
      path: /health
---
{API}
kind: HTTPRoute
metadata:
  name: {name}
spec:
  gateways: [{GATEWAY}]
  hostnames: ["{name}.example"]
  rules:
    - name: split
      matches:
        - path: {{prefix: /}}
      backends:
        - {{service: {name}, subset: stable, weight: 90}}
        - {{service: {name}, subset: canary, weight: 10}}
      sticky:
        header: x-user-id
"""


def write_policies(
    directory: Path, services: int, *, gateway_port: int = 10000, upstream_port: int = 18081
) -> Path:
    """Write a policy directory of ``services`` services; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    (directory / "00-gateway.yaml").write_text(_gateway(gateway_port))
    for start in range(0, services, FILE_CHUNK):
        stop = min(services, start + FILE_CHUNK)
        text = "---\n".join(_service(i, upstream_port) for i in range(start, stop))
        (directory / f"services-{start:05d}.yaml").write_text(text)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description="write a synthetic policy directory")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--services", type=int, default=100)
    args = parser.parse_args()
    write_policies(args.directory, args.services)
    print(args.directory)


if __name__ == "__main__":
    main()
