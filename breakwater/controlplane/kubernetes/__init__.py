"""Kubernetes, natively: what the control plane reads from and writes to the API server.

`serve --kubernetes` reads what users `kubectl apply`:

- `options`: what `serve` is told (kubeconfig or in-cluster, namespaces).
- `connection`: the API server's address and credentials, and an HTTP client for them.
- `kinds`: every kind read, with its API path and the RBAC rule that reading it needs.
- `watch`: list + watch of one kind from a resourceVersion (relist on 410 Gone,
  backoff on errors, bookmarks), keeping the objects it saw.
- `objects`: the objects → policy documents (pure: no I/O).
- `source`: the watches together, as the controller's `PolicySource`, and what each
  object became (`ObjectReport`, for the status writer).

and writes back what happened, from the one replica that leads:

- `lease`: leader election on a `coordination.k8s.io` Lease.
- `status`: the status each object should carry (pure: no I/O).
- `status_writer`: writes them through the status subresource, and Rollout decisions as
  Events.
- `forbidden`: a refused call as a sentence naming the missing RBAC rule.
"""
