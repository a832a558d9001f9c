"""A rolling replacement of every instance under continuous traffic, through a real Envoy.

For each of three instances: drain it through the API, wait until it holds
no request, stop it, start its replacement on a new port, put that in the
Service (a policy file edit), undrain the old endpoint. Requests take 50 ms,
so each drain begins with requests in flight on the instance it drains.
"""

from __future__ import annotations

import time

from breakwater.devtools.upstream import UpstreamServer
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, service

LATENCY = 0.05


def _drain_path(server: UpstreamServer) -> str:
    return f"/v1/services/payments/endpoints/127.0.0.1:{server.port}/drain"


def _policies(names: list[str]) -> str:
    return service("payments", *names) + PAYMENTS_ROUTE


def _replace(mesh: Mesh, names: list[str], index: int) -> tuple[int, int]:
    """Drain, finish, stop, replace, edit the Service, undrain; returns the old instance's
    requests in flight when drained, and those it served once it had finished."""
    old = mesh.upstreams[names[index]]
    answer = mesh.admin_api("PUT", _drain_path(old))
    assert answer["drained"] is True, answer
    in_flight = old.stats().in_flight
    mesh.wait_for(
        lambda: mesh.host_flags("payments")[old.instance].get("eds_health_status") == "DRAINING",
        5.0,
        f"Envoy to hold {old.instance} as DRAINING",
    )
    mesh.wait_for(lambda: old.stats().in_flight == 0, 5.0, f"{old.instance} to finish")
    finished = old.stats().requests
    time.sleep(0.5)  # about 75 requests: none of them may reach the drained instance
    served_after = old.stats().requests - finished
    old.stop()

    new = mesh.upstream(f"new_{index}", service="payments", latency=LATENCY)
    names[index] = new.instance
    mesh.write_policies(_policies(names))
    mesh.wait_for(
        lambda: (
            mesh.cluster_stat("payments", "membership_total") == 3
            and mesh.cluster_stat("payments", "membership_healthy") == 3
            and new.instance in mesh.host_flags("payments")
        ),
        10.0,
        f"Envoy to serve {new.instance} in place of {old.instance}",
    )
    mesh.admin_api("DELETE", _drain_path(old))
    mesh.wait_for(lambda: new.stats().requests > 0, 5.0, f"{new.instance} to serve")
    return in_flight, served_after


def test_a_rolling_replacement_of_three_instances_fails_no_request(mesh: Mesh) -> None:
    names = ["old_0", "old_1", "old_2"]
    for name in names:
        mesh.upstream(name, service="payments", latency=LATENCY)
    mesh.start(_policies(names))

    with mesh.continuous(rate=150, max_duration=90.0) as traffic:
        traffic.wait_for(150, timeout=5.0)
        figures = [_replace(mesh, names, index) for index in range(3)]
        settled = traffic.completed
        traffic.wait_for(settled + 150, timeout=5.0)
        result = traffic.stop()
    in_flight_at_drain = [in_flight for in_flight, _ in figures]
    served_after_drained = [served for _, served in figures]

    print(
        f"rolling replacement: {result.total} requests at {result.rate:.0f}/s, "
        f"{result.errors} failed; in flight on each instance when drained: {in_flight_at_drain}; "
        f"served by a drained instance once it had finished: {served_after_drained}"
    )
    assert result.errors == 0, result.summary()
    assert result.by_status.keys() == {200}, result.summary()
    assert served_after_drained == [0, 0, 0]
    assert max(in_flight_at_drain) > 0, "no drain began with requests in flight"
    status = mesh.admin_api("GET", "/v1/status")
    assert status["drained_endpoints"] == []
    events = [e["what"] for e in mesh.admin_api("GET", "/v1/events")["events"]]
    assert sum("drained" in what and "undrained" not in what for what in events) == 3, events
    assert sum("undrained" in what for what in events) == 3, events
    recent = {r.instance for r in result.records[-100:]}
    assert recent == {"new_0", "new_1", "new_2"}, recent
