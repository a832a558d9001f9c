"""Gateway `limits` and the bootstrap's overload manager: a flood of connections is refused while
established traffic keeps flowing, through a real Envoy and its own stats."""

from __future__ import annotations

from breakwater.devtools.ports import LOOPBACK
from tests.e2e.mesh import PAYMENTS_ROUTE, Mesh, service
from tests.support.connections import SteadyClient, closed_by_peer, connection_flood

LIMIT = 5
FLOOD = 40


def test_a_connection_flood_past_the_listener_limit_is_refused_while_a_steady_client_is_served(
    mesh: Mesh,
) -> None:
    mesh.upstream("only", service="payments")
    mesh.start(
        service("payments", "only") + PAYMENTS_ROUTE,
        gateway_spec=f"  limits: {{maxConnections: {LIMIT}}}\n",
    )
    steady = SteadyClient(mesh.gateway_port).start()
    try:
        with connection_flood(mesh.gateway_port, FLOOD) as flood:
            closed = [closed_by_peer(sock, wait=0.5) for sock in flood]
            during = steady.statuses[200]
            mesh.wait_for(lambda: steady.statuses[200] > during + 5, 5.0, "steady answers")
    finally:
        statuses = steady.stop()

    # The steady client holds one of the five; the first four of the flood
    # fit beside it, every later one was closed as it arrived.
    assert closed.count(False) == LIMIT - 1, closed
    assert all(closed[LIMIT - 1 :]), closed
    assert set(statuses) == {200}, statuses
    assert steady.reconnects == 0
    stats = mesh.stats()
    assert stats["connection_limit.edge.limited_connections"] == FLOOD - (LIMIT - 1)
    assert stats["http.edge.downstream_rq_2xx"] == statuses[200]


def test_the_overload_manager_caps_the_connections_of_every_listener(mesh: Mesh) -> None:
    mesh.upstream("only", service="payments")
    # The admin interface counts too: the mesh reads stats through it.
    cap = 8
    mesh.start(
        service("payments", "only") + PAYMENTS_ROUTE,
        bootstrap={"max_downstream_connections": cap},
    )
    steady = SteadyClient(mesh.gateway_port).start()
    try:
        with connection_flood(mesh.gateway_port, FLOOD) as flood:
            closed = [closed_by_peer(sock, wait=0.5) for sock in flood]
            during = steady.statuses[200]
            mesh.wait_for(lambda: steady.statuses[200] > during + 5, 5.0, "steady answers")
    finally:
        statuses = steady.stop()

    assert set(statuses) == {200}, statuses
    kept = closed.count(False)
    assert 1 <= kept < cap, closed
    assert all(closed[kept:]), closed
    stats = mesh.stats()
    overflow = f"listener.{LOOPBACK}_{mesh.gateway_port}.downstream_global_cx_overflow"
    assert stats[overflow] == FLOOD - kept
    # Envoy counts each refusal as the monitor's failed update too.
    monitor = "overload.envoy.resource_monitors.global_downstream_max_connections"
    assert stats[f"{monitor}.failed_updates"] == FLOOD - kept
