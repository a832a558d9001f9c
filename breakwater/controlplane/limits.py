"""How much a client may make the control plane hold: every such limit, in one place.

A proxy (or anything that can reach the xDS port) decides what it reports
and what it says about itself; without these bounds it would decide how much
memory the control plane keeps and how many series `/metrics` exports.
docs/security.md ("Bounded reports and state") lists them for operators.
This module imports nothing, so the CLI and the docs tests can read it cheaply.
"""

from __future__ import annotations

MAX_NODE_METADATA_BYTES = 16 * 1024
"""Encoded size of a node's `metadata` an xDS stream may announce. Node metadata is part of
the node group key, kept for as long as the group is served; Envoy's own is a few hundred
bytes."""

MAX_GATEWAYS_PER_REPORT = 1_000
"""Connection managers (gateways) with adaptive concurrency one stats report may name."""

MAX_ENDPOINTS_PER_REPORT = 10_000
"""Endpoints one load report (LRS) may list, over all its clusters. Each is kept for the
report window; a cluster of Breakwater's has as many endpoints as its Service lists."""

MAX_FAILING_HOSTS = 5
"""Hosts with the most failures kept per cluster in why-it-ejected answers and fleet shares:
what an operator reads first, and a bound on what a cluster of 10 000 endpoints can add."""

MAX_REPORTED_VALUE = 2**53
"""The largest count or gauge a report may carry (one flush, one interval). Above it a
double cannot hold the sum exactly, and no proxy serves that many requests in seconds."""

RESPONSE_CODE_CLASSES = frozenset({"1", "2", "3", "4", "5"})
"""The code classes Envoy's `upstream_rq_xx` has: one series each, never more."""

NODE_GROUP_GRACE_SECONDS = 30.0
"""How long a node group's snapshot stays after its last stream ended: a proxy that
reconnects within it is answered at once, from the snapshot already built."""

FLEET_EXPIRY_SWEEP_SECONDS = 1.0
"""How often, at most, the fleet's entries are looked over for proxies that stopped reporting
(each entry expires once its last report is older than the report window)."""

MESSAGE_LIMIT = 1024
"""Characters kept of a text that comes from outside: a proxy's NACK (its node id and
message are whatever an xDS client chooses), kept in the stream's status and in a rollout's
events; the rollout's progress lives in the state store, where an etcd request carries at
most 1.5 MiB."""


def bounded(message: str) -> str:
    """At most MESSAGE_LIMIT characters, an ellipsis ending one that was cut."""
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


MAX_INSTANCE_LABELS = 32
"""Labels one registered instance may carry; each is compared with every subset's selector."""

MIN_INSTANCE_TTL = 1.0
MAX_INSTANCE_TTL = 24 * 3600.0
"""Seconds an instance's TTL may be: under a second the renewals would cost more than the
instance, over a day a crashed instance would be served for longer than anyone waits."""
