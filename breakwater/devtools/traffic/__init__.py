"""Drive HTTP traffic through a listener and count what came back.

End-to-end claims about resilience are claims about counts: "a quarter of
the requests reached the canary", "no 5xx while the weights moved", "the
bulkhead turned the overflow into 503 with `x-envoy-overloaded`". This
package sends requests and keeps one record per request so that such claims
can be asserted exactly.

The API is synchronous because tests and the demo are; the work runs on an
asyncio loop (in a private thread when the caller already runs one). Every
loop stops by itself: a request count, a per-request timeout and a total
duration bound it.

The modules: `results` (the records and their tallies), `client` (one
session, which never retries), `batch` (`send_requests`: so many requests,
so many at a time) and `continuous` (`ContinuousTraffic`: a steady rate
until stopped).
"""

from breakwater.devtools.traffic.batch import asend_requests, send_requests
from breakwater.devtools.traffic.client import DEFAULT_WATCH_HEADERS, HeadersArg, PathArg
from breakwater.devtools.traffic.continuous import ContinuousTraffic
from breakwater.devtools.traffic.results import (
    CONNECTION_ERRORS,
    ErrorKind,
    ResponseRecord,
    TrafficResult,
)

__all__ = [
    "CONNECTION_ERRORS",
    "DEFAULT_WATCH_HEADERS",
    "ContinuousTraffic",
    "ErrorKind",
    "HeadersArg",
    "PathArg",
    "ResponseRecord",
    "TrafficResult",
    "asend_requests",
    "send_requests",
]
