"""The reconciler translates once per gateway set, and a weight change re-translates one virtual host.

A node group that appears is the reconciler's own step: the xDS identify hook
only queues it, and the proxy is still answered at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from pathlib import Path

from envoy.config.core.v3 import base_pb2

from breakwater.controlplane.groups import group_key, group_label
from breakwater.controlplane.reconciler import NewGroups, Reconciler
from breakwater.controlplane.xds.cache import SnapshotCache
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.controlplane.xds.server import XdsServer
from breakwater.controlplane.xds.status import StreamRegistry, StreamStatus, XdsObserver
from breakwater.translators.overrides import apply_overrides
from breakwater.translators.policyset import PolicySet
from breakwater.translators.snapshot import translate
from breakwater.xds_types import CLUSTER_TYPE, ENDPOINT_TYPE
from tests.support.ads import AdsClient
from tests.support.policies import load_policy_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
KEY = ("edge", ())


class _Weights:
    def __init__(self, route: str, rule: int, weights: dict[str, int]) -> None:
        self.route, self.rule, self.weights = route, rule, weights


def _examples() -> PolicySet:
    policyset, errors = load_policy_dir(EXAMPLES)
    assert policyset is not None, errors
    return policyset


async def test_weight_change_reuses_clusters_and_matches_a_full_translation() -> None:
    cache = SnapshotCache(group_key)
    reconciler = Reconciler(cache, quiet=0.0, cap=0.0)
    base = _examples()
    reconciler.on_policies(base, 0.0)
    reconciler.group_appeared(KEY)
    await reconciler.flush()
    first = cache.get_snapshot(KEY)
    assert first is not None and reconciler.translations == 1
    pieces = reconciler.pieces_translated

    shifted, dropped = apply_overrides(
        base, [_Weights("payments", 1, {"stable": 50, "canary": 50})]
    )
    assert not dropped
    reconciler.on_policies(shifted, 0.0)
    await reconciler.flush()
    second = cache.get_snapshot(KEY)
    assert second is not None and second.version != first.version
    assert reconciler.translations == 2
    assert reconciler.pieces_translated == pieces + 1  # the virtual host of `payments`
    for type_url in (CLUSTER_TYPE, ENDPOINT_TYPE):
        for name, resource in second.resources(type_url).items():
            assert resource is first.resources(type_url)[name]  # the very same encoded bytes

    gateways = reconciler.gateways_of(KEY)
    full = Snapshot.from_messages(translate(shifted, gateways))
    assert full.version == second.version
    for type_url in full.type_urls:
        assert {n: r.any_bytes for n, r in full.resources(type_url).items()} == {
            n: r.any_bytes for n, r in second.resources(type_url).items()
        }


async def test_documents_read_again_from_scratch_are_translated_again() -> None:
    cache = SnapshotCache(group_key)
    reconciler = Reconciler(cache, quiet=0.0, cap=0.0)
    reconciler.on_policies(_examples(), 0.0)
    reconciler.group_appeared(KEY)
    await reconciler.flush()
    pieces = reconciler.pieces_translated
    reconciler.on_policies(_examples(), 0.0)  # no shared reader: new objects, even if equal
    await reconciler.flush()
    assert reconciler.translations == 2 and reconciler.pieces_translated == 2 * pieces


def test_group_key_reads_only_string_metadata() -> None:
    node = base_pb2.Node(id="a", cluster="edge")
    node.metadata.update({"region": "eu-west", "replicas": 3})
    assert group_key(node) == ("edge", (("region", "eu-west"),))


def test_a_group_reads_as_its_node_cluster_and_metadata() -> None:
    assert group_label(("edge", ())) == "edge"
    assert (
        group_label(("edge", (("region", "eu"), ("tier", "gold")))) == "edge (region=eu, tier=gold)"
    )


async def test_proxies_of_new_groups_with_the_same_gateways_share_one_snapshot() -> None:
    cache = SnapshotCache(group_key)
    reconciler = Reconciler(cache)
    reconciler.on_policies(_examples(), 0.0)
    keys = [("edge", (("pod", f"edge-{i}"),)) for i in range(5)]
    for key in keys:
        reconciler.group_appeared(key)
    await reconciler.flush()
    snapshots = {id(cache.get_snapshot(key)) for key in keys}
    assert len(snapshots) == 1
    assert reconciler.translations == 1


class _SeenInHook(XdsObserver):
    """Registered after NewGroups: what the identify hook had done by the time it returned."""

    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        self.seen: list[tuple[Hashable, int, bool]] = []

    def on_connect(self, stream: StreamStatus) -> None:
        snapshot = self.reconciler.cache.get_snapshot(stream.group)
        self.seen.append((stream.group, self.reconciler.translations, snapshot is not None))


async def test_a_new_group_is_built_by_the_reconciler_not_in_the_identify_hook() -> None:
    cache = SnapshotCache(group_key)
    # A debounce far longer than the test: an answer can only come from the new-group step.
    reconciler = Reconciler(cache, quiet=30.0, cap=30.0)
    spy = _SeenInHook(reconciler)
    server = XdsServer(cache, registry=StreamRegistry([NewGroups(reconciler), spy]))
    port = await server.start()
    reconciler.on_policies(_examples(), 0.0)
    try:
        # Three groups with the same gateways, then a second proxy of the first group.
        proxies = [("proxy-a", "edge-0"), ("proxy-b", "edge-1"), ("proxy-c", "edge-2")]
        proxies.append(("proxy-d", "edge-0"))
        for node_id, pod in proxies:
            async with AdsClient(port, node_id, "edge") as client:
                client.node.metadata.update({"pod": pod})
                await client.request(CLUSTER_TYPE)
                response = await client.recv(timeout=2.0)
                assert response.type_url == CLUSTER_TYPE and response.resources
        # When each hook returned, nothing had been translated or cached for a new group ...
        assert spy.seen == [
            (("edge", (("pod", "edge-0"),)), 0, False),
            (("edge", (("pod", "edge-1"),)), 1, False),
            (("edge", (("pod", "edge-2"),)), 1, False),
            (("edge", (("pod", "edge-0"),)), 1, True),
        ]
        # ... and the step translated the gateway set once; every group holds that snapshot.
        assert reconciler.translations == 1
        first, *others = (cache.get_snapshot(("edge", (("pod", f"edge-{i}"),))) for i in range(3))
        assert first is not None and all(other is first for other in others)
    finally:
        await reconciler.close()
        await server.stop(0)


async def test_a_group_that_came_before_any_valid_policy_set_is_built_when_one_arrives() -> None:
    cache = SnapshotCache(group_key)
    reconciler = Reconciler(cache, quiet=30.0, cap=30.0)
    reconciler.group_appeared(KEY)
    await asyncio.sleep(0)
    assert cache.get_snapshot(KEY) is None
    reconciler.on_policies(_examples(), 0.0)
    await asyncio.wait_for(_until_built(cache, KEY), 2.0)  # far less than the debounce
    assert reconciler.translations == 1
    await reconciler.close()


async def _until_built(cache: SnapshotCache, key: Hashable) -> None:
    while cache.get_snapshot(key) is None:
        await asyncio.sleep(0.01)
