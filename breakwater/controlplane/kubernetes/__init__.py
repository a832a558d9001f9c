"""Kubernetes, natively: what the control plane reads from and writes to the API server."""
