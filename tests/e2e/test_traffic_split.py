"""Canary splits, header overrides, sticky users and a blue-green switch, through a real Envoy."""

from __future__ import annotations

from collections import defaultdict

from breakwater.devtools.traffic import ErrorKind
from tests.e2e.mesh import Mesh, payments_split
from tests.support.policies import payments_service

SERVICE = payments_service("$stable", "$canary")

CANARY = (
    SERVICE
    + """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - name: canary-users
      matches:
        - headers: [{name: canary-user, value: "true"}]
      backends:
        - {service: payments, subset: canary}
    - name: sticky
      matches:
        - path: {prefix: /account}
      backends:
        - {service: payments, subset: stable, weight: 90}
        - {service: payments, subset: canary, weight: 10}
      sticky: {header: x-user-id}
    - name: split
      backends:
        - {service: payments, subset: stable, weight: 90}
        - {service: payments, subset: canary, weight: 10}
"""
)


def start_canary(mesh: Mesh) -> None:
    mesh.upstream("stable", service="payments", subset="stable")
    mesh.upstream("canary", service="payments", subset="canary")
    mesh.start(CANARY)


def test_a_90_10_split_sends_a_tenth_of_requests_to_the_canary(mesh: Mesh) -> None:
    start_canary(mesh)

    requests = 2000
    result = mesh.send(requests, concurrency=8)

    assert result.ok == requests, result.summary()
    assert abs(result.subset_fraction("canary") - 0.10) <= 0.05, result.summary()
    assert abs(result.subset_fraction("stable") - 0.90) <= 0.05, result.summary()
    # Envoy's own counts per subset cluster agree with what the clients saw.
    assert mesh.cluster_stat("payments|canary", "upstream_rq_total") == result.by_subset["canary"]
    assert mesh.cluster_stat("payments|stable", "upstream_rq_total") == result.by_subset["stable"]


def test_the_canary_user_header_sends_everything_to_the_canary(mesh: Mesh) -> None:
    start_canary(mesh)

    result = mesh.send(200, concurrency=4, headers={"canary-user": "true"})

    assert result.by_subset == {"canary": 200}, result.summary()
    assert mesh.cluster_stat("payments|stable", "upstream_rq_total") == 0
    assert mesh.cluster_stat("payments|canary", "upstream_rq_total") == 200


def test_sticky_users_stay_on_one_side_and_a_tenth_of_them_see_the_canary(mesh: Mesh) -> None:
    start_canary(mesh)

    users, visits = 500, 10
    result = mesh.send(
        users * visits,
        concurrency=8,
        path="/account",
        headers=lambda i: {"x-user-id": f"user-{i % users}"},
    )

    assert result.ok == users * visits, result.summary()
    seen: defaultdict[int, set[str]] = defaultdict(set)
    for record in result.records:
        assert record.subset is not None
        seen[record.index % users].add(record.subset)
    assert len(seen) == users
    switched = [user for user, subsets in seen.items() if len(subsets) > 1]
    assert switched == [], f"{len(switched)} users saw both subsets"
    on_canary = sum(1 for subsets in seen.values() if subsets == {"canary"})
    assert abs(on_canary / users - 0.10) <= 0.05, f"{on_canary} of {users} users on canary"


def test_blue_green_switch_through_the_admin_api_drops_no_request(mesh: Mesh) -> None:
    mesh.upstream("stable", service="payments", subset="stable")
    mesh.upstream("canary", service="payments", subset="canary")
    mesh.start(payments_split({"stable": 100, "canary": 0}))

    with mesh.continuous(rate=200) as traffic:
        traffic.wait_for(100, timeout=5.0)
        answer = mesh.set_weights("payments", {"stable": 0, "canary": 100})

        def only_green_now() -> bool:
            recent = traffic.snapshot().records[-50:]
            return len(recent) == 50 and all(r.subset == "canary" for r in recent)

        mesh.wait_for(only_green_now, 5.0, "every response from the green (canary) subset")
        switched_at = traffic.completed
        traffic.wait_for(switched_at + 100, timeout=5.0)
        result = traffic.stop()

    assert answer["weights"] == {"stable": 0, "canary": 100}, answer
    assert answer["source"] == "override", answer
    assert result.errors == 0, result.summary()
    assert result.by_status.keys() == {200}, result.summary()
    assert not result.by_error.get(ErrorKind.RESET)
    subsets = [record.subset for record in result.records]
    assert set(subsets[:100]) == {"stable"}, result.summary()
    assert set(subsets[switched_at:]) == {"canary"}, result.summary()
    # Once blue is gone, no answer from it ever comes back.
    last_blue = max(i for i, subset in enumerate(subsets) if subset == "stable")
    assert set(subsets[last_blue + 1 :]) == {"canary"}
    assert mesh.cluster_stat("payments|canary", "upstream_rq_total") == subsets.count("canary")
    # The control plane saw Envoy accept the new routes.
    proxies = mesh.admin_api("GET", "/v1/status")["proxies"]
    assert [p["node_id"] for p in proxies] == ["e2e-edge-1"]
    rds = next(t for t in proxies[0]["types"] if t["type"] == "rds")
    assert rds["acked_version"] == rds["target_version"], rds
    assert rds["nacks"] == 0, rds
