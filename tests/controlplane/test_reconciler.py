"""The reconciler translates once per gateway set, and a weight change only re-translates routes."""

from __future__ import annotations

from pathlib import Path

from envoy.config.core.v3 import base_pb2

from breakwater.controlplane.reconciler import Reconciler, group_key
from breakwater.controlplane.xds.cache import SnapshotCache
from breakwater.controlplane.xds.resources import Snapshot
from breakwater.translators.overrides import apply_overrides
from breakwater.translators.policyset import PolicySet
from breakwater.translators.snapshot import translate
from breakwater.xds_types import CLUSTER_TYPE, ENDPOINT_TYPE
from tests.support import load_policy_dir

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
    reconciler.publish(base, 0.0)
    reconciler.ensure_group(KEY)
    first = cache.get_snapshot(KEY)
    assert first is not None and reconciler.translations == 1

    shifted, dropped = apply_overrides(
        base, [_Weights("payments", 1, {"stable": 50, "canary": 50})]
    )
    assert not dropped
    reconciler.publish(shifted, 0.0)
    await reconciler.flush()
    second = cache.get_snapshot(KEY)
    assert second is not None and second.version != first.version
    assert reconciler.route_only_translations == 1 and reconciler.translations == 1
    for type_url in (CLUSTER_TYPE, ENDPOINT_TYPE):
        for name, resource in second.resources(type_url).items():
            assert resource is first.resources(type_url)[name]  # the very same encoded bytes

    gateways = reconciler.gateways_of(KEY)
    full = Snapshot.from_messages(translate(shifted, gateways))
    assert full.version == second.version


async def test_a_file_change_translates_everything_again() -> None:
    cache = SnapshotCache(group_key)
    reconciler = Reconciler(cache, quiet=0.0, cap=0.0)
    reconciler.publish(_examples(), 0.0)
    reconciler.ensure_group(KEY)
    reconciler.publish(_examples(), 0.0)  # a reload: new objects, even if equal
    await reconciler.flush()
    assert reconciler.translations == 2 and reconciler.route_only_translations == 0


def test_group_key_reads_only_string_metadata() -> None:
    node = base_pb2.Node(id="a", cluster="edge")
    node.metadata.update({"region": "eu-west", "replicas": 3})
    assert group_key(node) == ("edge", (("region", "eu-west"),))


def test_proxies_of_new_groups_with_the_same_gateways_share_one_snapshot() -> None:
    cache = SnapshotCache(group_key)
    reconciler = Reconciler(cache)
    reconciler.publish(_examples(), 0.0)
    keys = [("edge", (("pod", f"edge-{i}"),)) for i in range(5)]
    for key in keys:
        reconciler.ensure_group(key)
    snapshots = {id(cache.get_snapshot(key)) for key in keys}
    assert len(snapshots) == 1
    assert reconciler.translations == 1 and reconciler.route_only_translations == 0
