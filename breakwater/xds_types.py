"""The four xDS resource types Breakwater serves, and how a resource is named.

Both sides of the seam need these facts about Envoy's API: the translators
that produce resources and the server that sends them. They live here, apart
from both, so that neither has to import the other.
"""

from __future__ import annotations

from envoy.config.endpoint.v3 import endpoint_pb2
from google.protobuf.message import Message

TYPE_PREFIX = "type.googleapis.com/"
CLUSTER_TYPE = TYPE_PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINT_TYPE = TYPE_PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER_TYPE = TYPE_PREFIX + "envoy.config.listener.v3.Listener"
ROUTE_TYPE = TYPE_PREFIX + "envoy.config.route.v3.RouteConfiguration"

PUSH_ORDER: tuple[str, ...] = (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE)
"""Make-before-break order: what a later type points at is pushed first."""


def type_url_of(message: Message) -> str:
    return TYPE_PREFIX + message.DESCRIPTOR.full_name


def resource_name(message: Message) -> str:
    """The xDS name of a resource (``cluster_name`` for endpoint assignments)."""
    if isinstance(message, endpoint_pb2.ClusterLoadAssignment):
        return str(message.cluster_name)
    name = getattr(message, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"{type_url_of(message)} has no name field")
    return name
