"""Defaults that the server, the CLI, the client, the bootstrap and the tools must agree on.

Each number lives here once so that `serve`, `bootstrap` and `status` keep
finding each other when one of them changes. This module imports nothing:
the CLI reads it to build its help texts without loading the control plane.
"""

from __future__ import annotations

HOST = "127.0.0.1"
"""Where `serve` listens unless told otherwise: loopback, so that nothing is exposed by default
(and writes without a token stay acceptable)."""

XDS_PORT = 18000
"""xDS (ADS, State of the World and Delta) and the gRPC API."""

ADMIN_PORT = 18001
"""The HTTP admin API: status, weights, metrics, probes."""

ADMIN_URL = f"http://{HOST}:{ADMIN_PORT}"
"""Where the client commands look for the admin API unless given `--server`."""

ENVOY_ADMIN_PORT = 9901
"""The admin port a generated bootstrap gives Envoy (Envoy's own documented choice)."""

DEBOUNCE_QUIET = 0.1
"""Seconds without a new change before snapshots are rebuilt and pushed."""

DEBOUNCE_CAP = 1.0
"""Seconds at most from the first change of a burst to its push, however long the burst goes on."""

EVENT_LOOPS = ("uvloop", "asyncio")
EVENT_LOOP = "uvloop"
"""The event loop `serve` runs on: uvloop's measured faster at fan-out (BENCHMARKS.md, "Fan-out,
issue 14"); `--event-loop asyncio` is the standard library's."""

POLICY_POLL_INTERVAL = 0.1
"""Seconds between two looks at the policy directory's file names, sizes and times (a few
stat calls; reading happens only on a change)."""

REGISTRATION_TTL = 30.0
"""Seconds a registered instance lives without a renewal, unless its Service or the instance
says otherwise (`spec.registration.ttl`, the registration's `ttl`)."""

REGISTRATION_MAX_INSTANCES = 1000
"""Registered instances one Service takes unless its `spec.registration.maxInstances` says."""

REGISTRATION_DRAIN = 5.0
"""Seconds a deregistered instance stays in EDS as DRAINING before it is removed: Envoy sends
it no new request and the ones in flight finish (`spec.registration.drainTime`)."""

REGISTRATION_MAX_INSTANCES_LIMIT = 100_000
"""The most a Service's `spec.registration.maxInstances` may allow: each registered instance is
an endpoint in EDS and a row (or an etcd lease) in the state store."""

ENDPOINT_WEIGHT_LIMIT = 10_000
"""The largest `weight` of an endpoint (Envoy's `load_balancing_weight`); a locality's weight
is the sum of its endpoints', which Envoy needs under 2^32."""
KUBERNETES_SYNC_TIMEOUT = 30.0
"""Seconds `serve --kubernetes` waits at start for the first list of every kind it reads; after
that it serves what it has and keeps retrying the rest."""
KUBERNETES_BACKOFF_INITIAL = 0.2
KUBERNETES_BACKOFF_CAP = 10.0
"""A failed list or watch is retried after KUBERNETES_BACKOFF_INITIAL seconds, doubled on each
failure in a row up to KUBERNETES_BACKOFF_CAP (with jitter): an API server that is back is
found within seconds, and one that is down is not hammered."""
KUBERNETES_QUIET = 0.05
"""Seconds without a Kubernetes event before the objects are read again: a Deployment's
rollout writes several slices at once, read as one change."""
LEASE_DURATION = 15.0
"""Seconds a control plane's Lease lasts without a renewal (client-go's default): a replica that
dies is replaced as leader within this plus a fifth of it."""
