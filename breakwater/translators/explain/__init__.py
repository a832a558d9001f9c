"""`breakwater explain`: each effective setting, who set it, and what Envoy makes of it.

`meanings` is the shape of a slice's `EXPLAIN` table; `service` puts the
Envoy slices' tables in the order of the policy model and answers for a
service and its route rules; `gateway` for a gateway's Telemetry, listener
and the response flags its proxies may log (`response_flags`).
"""
