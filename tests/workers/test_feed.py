"""A snapshot fed to a worker: rebuilt there without decoding, it is the parent's, byte for
byte and version for version; after a weight change only what changed travels in full."""

from __future__ import annotations

import pickle
from pathlib import Path

from breakwater.controlplane.workers.feed import FedSnapshots, to_feed
from breakwater.controlplane.xds.resources import ROUTE_TYPE, Snapshot
from breakwater.translators.snapshot import build, node_group
from tests.support.policies import NODE_CLUSTER, PolicyDir, load_policy_dir

GROUP = (NODE_CLUSTER, ())


def _translated(policies: PolicyDir, previous: Snapshot | None = None) -> Snapshot:
    policyset, errors = load_policy_dir(policies.path)
    assert policyset is not None, errors
    return Snapshot(build(policyset, node_group(policyset, NODE_CLUSTER, {})), previous)


def _travelled(feed: object) -> object:
    """As it crosses the socket: pickled, then unpickled in the worker."""
    return pickle.loads(pickle.dumps(feed, protocol=pickle.HIGHEST_PROTOCOL))


def _assert_same(rebuilt: Snapshot, original: Snapshot) -> None:
    assert rebuilt.version == original.version
    assert rebuilt.type_urls == original.type_urls
    for type_url in original.type_urls:
        assert rebuilt.type_version(type_url) == original.type_version(type_url)
        ours, theirs = rebuilt.resources(type_url), original.resources(type_url)
        assert list(ours) == list(theirs)
        for name, resource in theirs.items():
            # Every field: the encoded Any, references and both response entries.
            assert ours[name] == resource, name
            assert ours[name].refs_of(ROUTE_TYPE) == resource.refs_of(ROUTE_TYPE)


def test_a_fed_snapshot_is_the_parents_and_a_change_sends_what_changed(tmp_path: Path) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    first = _translated(policies)
    worker = FedSnapshots()
    group, rebuilt = worker.apply(_travelled(to_feed(GROUP, first, None)))  # type: ignore[arg-type]
    assert group == GROUP
    _assert_same(rebuilt, first)

    policies.write_weights({"stable": 40, "canary": 60})
    second = _translated(policies, first)
    feed = to_feed(GROUP, second, first)
    _, _, types = feed
    changed = {t for t in second.type_urls if second.type_version(t) != first.type_version(t)}
    assert changed == {ROUTE_TYPE}
    assert {t for t, items in types.items() if items is not None} == changed
    sent_whole = [item for item in types[ROUTE_TYPE] or () if not isinstance(item, str)]
    assert sent_whole and len(sent_whole) < len(second.resources(ROUTE_TYPE)) + 1
    for name, version, _, _ in sent_whole:
        assert first.resources(ROUTE_TYPE).get(name) is None or (
            first.resources(ROUTE_TYPE)[name].version != version
        )

    _, again = worker.apply(_travelled(feed))  # type: ignore[arg-type]
    _assert_same(again, second)
    for type_url in second.type_urls:
        if type_url not in changed:  # taken over by the worker's snapshot, not rebuilt
            assert again.resources(type_url) is rebuilt.resources(type_url)
