"""An API error the control plane got on a write, as a sentence that says what to do next.

A 403 names the RBAC rule that is missing (verb, group, resource, namespace), since that is
what the operator has to add to the ClusterRole; anything else says what the server said.
"""

from __future__ import annotations

import httpx2
from lightkube import ApiError

UNREACHABLE = (OSError, TimeoutError, httpx2.TransportError)
"""What a call raises when the API server cannot be reached (or does not answer in time)."""


def refusal(error: ApiError, verb: str, group: str, resource: str, namespace: str | None) -> str:
    where = f"in namespace {namespace!r}" if namespace else "cluster-wide"
    if error.status.code == 403:
        return (
            f"the API server refused to {verb} {resource} ({group or 'core'} group) {where}: "
            f"this control plane's ServiceAccount needs an RBAC rule with apiGroups "
            f"[{group!r}], resources [{resource!r}], verbs [{verb!r}] "
            "(deploy/kubernetes/breakwater.yaml has the rules it uses)"
        )
    message = error.status.message or "no message"
    return f"the API server answered {error.status.code} to {verb} {resource} {where}: {message}"


__all__ = ["UNREACHABLE", "refusal"]
