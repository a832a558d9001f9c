"""The pieces of zone routing: a node's zone in its group key, the local cluster's counts, and
the priorities zone failover gives each zone's proxies."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2

from breakwater.cli.diff import diff_group, format_diff
from breakwater.controlplane.api.policy_models import ServedGroup
from breakwater.controlplane.api.served import served_resources
from breakwater.controlplane.groups import group_key, group_label, group_zone
from breakwater.controlplane.reconciler import local_zones
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.controlplane.xds.status import StreamStatus
from breakwater.translators.ir.nodes import Host
from breakwater.translators.ir.upstreams import zone_priorities
from breakwater.translators.snapshot import translate
from tests.translators.support import load_case


def _stream(node_id: str, cluster: str, zone: str | None) -> StreamStatus:
    group = (cluster, ()) if zone is None else (cluster, (), zone)
    return StreamStatus(1, "sotw", node_id, cluster, group, "127.0.0.1", 0.0, {})


def test_a_node_that_names_its_zone_is_grouped_by_it() -> None:
    node = base_pb2.Node(id="a", cluster="edge")
    assert group_key(node) == ("edge", ())
    node.locality.zone = "eu-1a"
    key = group_key(node)
    assert key == ("edge", (), "eu-1a")
    assert group_zone(key) == "eu-1a" and group_zone(("edge", ())) is None
    assert group_label(key) == "edge (zone eu-1a)"


def test_the_local_cluster_counts_the_proxies_of_zoned_node_clusters() -> None:
    streams = [
        _stream("a1", "edge", "eu-1a"),
        _stream("a2", "edge", "eu-1a"),
        _stream("b1", "edge", "eu-1b"),
        _stream("n1", "edge", None),
        _stream("m1", "monitoring", None),  # no proxy of it named a zone: no local cluster
    ]
    assert local_zones(streams) == {"edge": (("", 1), ("eu-1a", 2), ("eu-1b", 1))}


def test_zone_failover_orders_own_zone_then_listed_then_the_rest() -> None:
    hosts = [
        Host("10.0.0.1", 80, False, "eu-1a"),
        Host("10.0.0.2", 80, False, "eu-1b"),
        Host("10.0.0.3", 80, False, "eu-1c"),
        Host("10.0.0.4", 80, False, None),
    ]
    assert dict(zone_priorities(hosts, "eu-1b", ["eu-1c"])) == {
        "eu-1b": 0,
        "eu-1c": 1,
        "eu-1a": 2,
        "": 2,
    }
    # A proxy whose zone has no host: the next zone is priority 0, without a gap.
    assert dict(zone_priorities(hosts[:1] + hosts[2:3], "eu-1b", [])) == {"eu-1a": 0, "eu-1c": 0}
    assert dict(zone_priorities(hosts[:3], "eu-1z", ["eu-1c", "eu-1a"])) == {
        "eu-1c": 0,
        "eu-1a": 1,
        "eu-1b": 2,
    }


def test_diff_of_a_zoned_group_keeps_its_zone_and_its_local_cluster() -> None:
    """`breakwater diff` translates a zoned group for its zone, and takes the served local
    cluster (the fleet's proxies, not a policy) as it is."""
    policyset = load_case("zones")
    gateways = frozenset(policyset.gateways)
    served = served_resources(
        Snapshot.from_messages(
            translate(policyset, gateways, "eu-1b", (("eu-1a", 2), ("eu-1b", 1)))
        )
    )
    group = ServedGroup(
        node_cluster="edge",
        node_metadata={},
        node_zone="eu-1b",
        gateways=sorted(gateways),
        version="v",
        resources=served,
    )
    diff = diff_group(group, policyset)
    assert diff.changes == ()
    assert "zone eu-1b" in format_diff([diff])
