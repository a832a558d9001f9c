"""EDS clusters that differ by name and service alone, translated once per policy.

Ten thousand services under policies that differ by name alone (one merge
and one spec, `policyset.merge_layers`) make twenty thousand clusters that
differ in two strings: the cluster's name, its first field, and the Host
header of an HTTP health check that names none, the service's name. Protobuf's
deterministic encoding writes fields in number order and a message's bytes are
its fields' encodings one after the other, so one cluster is built and
serialized per (policy, protocol), cut around those two strings, and each
cluster is the pieces joined with its own strings: byte for byte what
serializing its own message gives (`tests/translators/test_cluster_shapes.py`).
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import health_check_pb2

from breakwater.translators.envoy.clusters import upstream_cluster
from breakwater.translators.envoy.encoded import (
    Resource,
    encode_bytes_field,
    encode_str_field,
    split_field,
)
from breakwater.translators.ir.nodes import Cluster
from breakwater.xds_types import CLUSTER_TYPE, ENDPOINT_TYPE

_CLUSTER = cluster_pb2.Cluster.DESCRIPTOR.fields_by_name
_NAME = _CLUSTER["name"].number
_HEALTH_CHECKS = _CLUSTER["health_checks"].number
_HTTP_CHECK = health_check_pb2.HealthCheck.DESCRIPTOR.fields_by_name["http_health_check"].number
_HOST = health_check_pb2.HealthCheck.HttpHealthCheck.DESCRIPTOR.fields_by_name["host"].number


class _Shape:
    """One cluster's encoding without its name (and the service's name as the Host header of
    its HTTP health check): `parts` around the slot the service's name goes in."""

    __slots__ = ("keep", "message", "parts")

    def __init__(self, node: Cluster, message: cluster_pb2.Cluster) -> None:
        self.keep = node.policy.spec
        """The spec whose identity is the shape's key, kept alive with it."""
        self.message = message
        encoded = message.SerializeToString(deterministic=True)
        head = encode_str_field(_NAME, node.name)
        assert encoded.startswith(head), "protobuf writes fields in number order"
        rest = encoded[len(head) :]
        check = node.policy.spec.health_check
        if check is None or check.http is None or check.http.host is not None:
            self.parts: tuple[bytes, ...] = (rest,)
            return
        before, (entry,), after = split_field(rest, _HEALTH_CHECKS)
        check_before, (http,), check_after = split_field(entry, _HTTP_CHECK)
        http_before, (host,), http_after = split_field(http, _HOST)
        assert host == node.service.encode(), "the Host header is the service's name"
        self.parts = (before, check_before, check_after, after, http_before, http_after)

    def encode(self, node: Cluster) -> bytes:
        name = encode_str_field(_NAME, node.name)
        if len(self.parts) == 1:
            return name + self.parts[0]
        before, check_before, check_after, after, http_before, http_after = self.parts
        http = http_before + encode_str_field(_HOST, node.service) + http_after
        check = check_before + encode_bytes_field(_HTTP_CHECK, http) + check_after
        return b"".join((name, before, encode_bytes_field(_HEALTH_CHECKS, check), after))


class ClusterShapes:
    """The EDS clusters of one build, each policy's shape made once (`_Shape`)."""

    def __init__(self) -> None:
        self._found: dict[tuple[int, str], _Shape] = {}

    def cluster(self, node: Cluster) -> tuple[cluster_pb2.Cluster, Resource]:
        """The resource, and a message of the same policy (the aggregate of a failover takes
        its primary's circuit breakers from it)."""
        if node.dns is not None:  # the name is in its inline endpoints too
            message = upstream_cluster(node)
            return message, Resource.from_message(message)
        key = (id(node.policy.spec), node.protocol)
        shape = self._found.get(key)
        if shape is None:
            shape = self._found[key] = _Shape(node, upstream_cluster(node))
        return shape.message, Resource.from_encoded(
            CLUSTER_TYPE, node.name, shape.encode(node), frozenset({(ENDPOINT_TYPE, node.name)})
        )
