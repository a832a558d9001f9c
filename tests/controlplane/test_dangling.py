"""The reconciler's check for dangling references looks only at what changed since a
snapshot that passed it, and still finds every reference an edit left dangling."""

from __future__ import annotations

from breakwater.controlplane.reconciler import _dangling
from breakwater.controlplane.xds.resources import Resource, Snapshot
from breakwater.xds_types import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from tests.controlplane import builders

BACKENDS = {"a": [1], "b": [2]}


def _base() -> Snapshot:
    snapshot = builders.snapshot(backends=BACKENDS, weights={"a": 1}, listener_port=1)
    assert _dangling(snapshot) == []
    return snapshot


def _edited(previous: Snapshot, **changed: list[Resource]) -> Snapshot:
    """`previous` with some types listed anew; the others are its very same resources."""
    types = {"cds": CLUSTER_TYPE, "eds": ENDPOINT_TYPE, "lds": LISTENER_TYPE, "rds": ROUTE_TYPE}
    listed = {t: list(previous.resources(t).values()) for t in previous.type_urls}
    listed.update({types[short]: resources for short, resources in changed.items()})
    return Snapshot(listed, previous)


def _routes(weights: dict[str, int]) -> list[Resource]:
    return [Resource.from_message(builders.weighted_routes("ingress-routes", weights))]


def test_an_edited_route_configuration_naming_a_missing_cluster_is_caught() -> None:
    previous = _base()
    edited = _edited(previous, rds=_routes({"a": 1, "ghost": 1}))
    assert edited.resources(CLUSTER_TYPE) is previous.resources(CLUSTER_TYPE)  # the quick path
    assert _dangling(edited, previous) == [
        "rds 'ingress-routes' references cds 'ghost', which is not in the snapshot"
    ]


def test_an_edited_listener_naming_a_missing_route_configuration_is_caught() -> None:
    previous = _base()
    listener = Resource.from_message(builders.http_listener("ingress", 1, "other-routes"))
    assert _dangling(_edited(previous, lds=[listener]), previous) == [
        "lds 'ingress' references rds 'other-routes', which is not in the snapshot"
    ]


def test_a_removed_cluster_an_unchanged_route_still_names_is_caught() -> None:
    previous = builders.snapshot(backends=BACKENDS, weights={"a": 1, "b": 1}, listener_port=1)
    kept_cluster = [previous.resources(CLUSTER_TYPE)["b"]]
    kept_endpoints = [previous.resources(ENDPOINT_TYPE)["b"]]
    edited = _edited(previous, cds=kept_cluster, eds=kept_endpoints)
    assert edited.resources(ROUTE_TYPE) is previous.resources(ROUTE_TYPE)
    assert _dangling(edited, previous) == [
        "rds 'ingress-routes' references cds 'a', which is not in the snapshot"
    ]


def test_a_cluster_made_again_without_its_endpoint_set_is_caught() -> None:
    previous = _base()
    clusters = [
        Resource.from_message(builders.eds_cluster("a", connect_timeout_ms=900)),
        previous.resources(CLUSTER_TYPE)["b"],
    ]
    endpoints = [previous.resources(ENDPOINT_TYPE)["b"], _endpoints("c")]
    assert _dangling(_edited(previous, cds=clusters, eds=endpoints), previous) == [
        "cds 'a' references eds 'a', which is not in the snapshot"
    ]


def _endpoints(name: str) -> Resource:
    return Resource.from_message(builders.load_assignment(name, [3]))


def test_edits_whose_references_all_resolve_pass() -> None:
    previous = _base()
    assert _dangling(_edited(previous, rds=_routes({"a": 3, "b": 1})), previous) == []
    clusters = [*previous.resources(CLUSTER_TYPE).values()]
    grown = _edited(
        previous,
        cds=[*clusters, Resource.from_message(builders.eds_cluster("c"))],
        eds=[*previous.resources(ENDPOINT_TYPE).values(), _endpoints("c")],
        rds=_routes({"a": 1, "c": 1}),
    )
    assert _dangling(grown, previous) == []
    assert _dangling(grown, grown) == []
