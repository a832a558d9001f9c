"""The Envoy translators: IR nodes in, Envoy v3 resources out, and nothing else read.

One module per feature, each owning the Envoy fields it writes and, in its
`EXPLAIN`, what `breakwater explain` says about them (`retries`, `outlier`,
`bulkhead`, `adaptive`, `health`, `balancing`, `admission`, `faults`,
`ratelimit`, `global_ratelimit`, `mirror`, `headers`, `fallback`,
`telemetry`, `tls`, `limits`; their golden cases
are in `tests/translators/envoy/<slice>/`); `clusters`,
`endpoints`, `routes` and `listeners` assemble them into resources; `build`
is the one build path, caching each piece under its IR node; `encoded` is
the resource as the xDS server sends it.
"""
