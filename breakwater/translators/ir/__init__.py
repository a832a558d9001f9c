"""The resolved intermediate representation: what one node group's Envoy config says, and no more.

`nodes` holds the frozen, hashable dataclasses (listeners, route configurations,
virtual hosts, rules, clusters, endpoint sets); `resolve` and the modules it
calls (`upstreams`, `routing`, `gateways`) turn a PolicySet into them. Every
policy question (which level's policy, which cluster a backend is routed to,
which gateways and Telemetry apply) is answered here, once, so the Envoy
translators read IR nodes only, and the build cache keys on them.
"""
