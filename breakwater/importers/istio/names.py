"""Istio's names → Breakwater's: hosts become Service names, gateway references gateway names.

Istio names a destination by host (`reviews`, `reviews.shop.svc.cluster.local`,
`api.example.com`); Breakwater names a Service. A Kubernetes service host
becomes the Kubernetes service's own name; any other host becomes the host
with its dots turned into dashes, so that it is still a valid name.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CLUSTER_SUFFIX = re.compile(r"\.svc(\.cluster\.local)?$")
MAX_NAME = 63


def is_name(text: str) -> bool:
    return len(text) <= MAX_NAME and _NAME.match(text) is not None


def to_name(text: str) -> str | None:
    """`text` as a Breakwater name (lowercase, dashes), or None when nothing valid is left."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:MAX_NAME].strip("-")
    return name if is_name(name) else None


def service_name(host: str) -> str | None:
    """The Breakwater Service an Istio host means: `reviews.shop.svc.cluster.local` → `reviews`."""
    if "*" in host:
        return None
    labels = host.split(".")
    if _CLUSTER_SUFFIX.search(host) or (len(labels) == 2 and not _looks_public(labels[1])):
        return to_name(labels[0])
    if len(labels) == 1:
        return to_name(host)
    return to_name(host.replace(".", "-"))


def _looks_public(label: str) -> bool:
    """`reviews.shop` is a service in a namespace; `example.com` is a public name."""
    return label in {"com", "org", "net", "io", "dev", "app", "local", "internal"}


def gateway_name(reference: str) -> str | None:
    """`istio-system/edge` or `edge` → `edge`; Breakwater has no namespaces (yet)."""
    return to_name(reference.rpartition("/")[2])


MESH_GATEWAY = "mesh"
"""Istio's reserved gateway name for the sidecars of the mesh."""
