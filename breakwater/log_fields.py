"""The fields of an access log line, shared by the proxies' access logs and the control plane's log.

Envoy writes them (the translators put them in every gateway's access log
format) and `serve --log-format json` names its own records' fields after
them, so that one log pipeline reads both. They live here, apart from both
sides, so that the command line can name them without loading the
translators.
"""

from __future__ import annotations

ACCESS_LOG_FIELDS: dict[str, str] = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "authority": "%REQ(:AUTHORITY)%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "route_name": "%ROUTE_NAME%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    "duration_ms": "%DURATION%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "trace_id": "%TRACE_ID%",
}
"""The default fields: what an operator searches on. `response_flags` says why Envoy
answered itself (see `breakwater.translators.explain.response_flags`), `route_name` which rule matched
(`<httproute>/<rule>/<match>`), `attempts` how many tries a request took, `trace_id`
the trace it belongs to (null when it is not traced)."""
