"""The Gateway API dialect: `gateway.networking.k8s.io` documents read beside Breakwater's own.

`model` holds the documents as written, `convert` turns each into
Breakwater's internal model (keeping every field's line), `resolve` follows
their references across documents (namespaces, ReferenceGrants, listeners)
and records each route's status, and `ordering` merges the routes of one
hostname in the Gateway API's precedence.
"""
