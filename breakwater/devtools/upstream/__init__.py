"""An HTTP upstream that misbehaves when told to.

Resilience policies only show their worth against a backend that fails:
outlier detection needs 5xx, retries need resets and slow first attempts,
health checks need a `/health` that can flip, and canary routing needs every
answer to say which instance produced it. This server does all of that, and
its behaviour can change while traffic flows (from Python or over HTTP at
`/__control`) so that tests and the demo can break a backend mid-run and
watch Envoy react. It keeps the last requests as they arrived (`seen`), so
a test can check what a proxy in front rewrote, added or mirrored.

Every response carries `x-instance`, `x-service` and `x-subset` headers and a
JSON body with the same names. Requests to `/__control` and `/health` are
never subject to injected faults and are not counted as served requests.

The modules: `behavior` (what to do and what was counted, as values),
`plan` (each request's fate, decided under one lock), `server` (the HTTP
side), `control` (`/__control`), `background` (the server in a thread, for
synchronous callers) and `command` (`python -m breakwater.devtools.upstream`).
"""

from breakwater.devtools.upstream.background import UpstreamServer
from breakwater.devtools.upstream.behavior import (
    DEFAULT_FIRST_ATTEMPT_HEADER,
    Behavior,
    BehaviorChanges,
    SeenRequest,
    UpstreamStats,
)
from breakwater.devtools.upstream.command import main
from breakwater.devtools.upstream.control import CONTROL_PATH, CONTROL_RESET_PATH
from breakwater.devtools.upstream.server import (
    HEALTH_PATH,
    INSTANCE_HEADER,
    SERVICE_HEADER,
    SUBSET_HEADER,
    Upstream,
)

__all__ = [
    "CONTROL_PATH",
    "CONTROL_RESET_PATH",
    "DEFAULT_FIRST_ATTEMPT_HEADER",
    "HEALTH_PATH",
    "INSTANCE_HEADER",
    "SERVICE_HEADER",
    "SUBSET_HEADER",
    "Behavior",
    "BehaviorChanges",
    "SeenRequest",
    "Upstream",
    "UpstreamServer",
    "UpstreamStats",
    "main",
]
