"""Kubernetes as the policy source: `serve --kubernetes` reads what users `kubectl apply`.

- `options`: what `serve` is told (kubeconfig or in-cluster, namespaces).
- `connection`: the API server's address and credentials, and an HTTP client for them.
- `kinds`: every kind read, with its API path and the RBAC rule that reading it needs.
- `watch`: list + watch of one kind from a resourceVersion (relist on 410 Gone,
  backoff on errors, bookmarks), keeping the objects it saw.
- `objects`: the objects → policy documents (pure: no I/O).
- `source`: the watches together, as the controller's `PolicySource`, and what each
  object became (`ObjectReport`, for the status writer).
"""
