"""Leader election on a real API server: one Lease, two replicas, the leader killed.

"Killed" is what SIGKILL does to a replica's election: its renewals stop and nothing
releases the Lease. The other replica must take over within the lease duration (plus
one retry) of the last renewal; a replica that stops cleanly hands over at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.models.rbac_v1 import PolicyRule
from lightkube.resources.coordination_v1 import Lease

from breakwater.controlplane.kubernetes.lease import LeaderElection
from tests.support.kube_access import granted
from tests.support.kube_apiserver import KubeApiServer

DURATION = 3.0


@pytest.fixture
async def second_client(kube: KubeApiServer) -> AsyncIterator[AsyncClient]:
    """Another replica's own connection to the API server."""
    async with AsyncClient(KubeConfig.from_file(kube.admin.kubeconfig)) as client:
        yield client


async def test_the_other_replica_takes_over_when_the_leader_dies(
    kube_client: AsyncClient, second_client: AsyncClient, kube_namespace: str
) -> None:
    changes: list[tuple[str, bool]] = []
    first = LeaderElection(
        kube_client, kube_namespace, "breakwater", "cp-1", duration=DURATION,
        on_change=lambda leading: changes.append(("cp-1", leading)),
    )  # fmt: skip
    second = LeaderElection(second_client, kube_namespace, "breakwater", "cp-2", duration=DURATION)
    await first.start()
    await second.start()
    try:
        assert first.leading and not second.leading
        assert second.holder == "cp-1"
        lease = await kube_client.get(Lease, "breakwater", namespace=kube_namespace)
        assert lease.spec is not None and lease.spec.holderIdentity == "cp-1"
        assert lease.spec.leaseDurationSeconds == round(DURATION)

        # Several durations later the leader still leads: it renews.
        renewed = lease.spec.renewTime
        assert not await second.wait_leading(DURATION * 1.5)
        assert first.leading
        lease = await kube_client.get(Lease, "breakwater", namespace=kube_namespace)
        assert lease.spec is not None and lease.spec.renewTime != renewed

        # The leader dies: no more renewals, no release.
        await first.stop(release=False)
        killed = time.monotonic()
        assert await second.wait_leading(DURATION + second.retry + 5.0)
        took = time.monotonic() - killed
        assert took <= DURATION + second.retry + 1.0, f"took over after {took:.1f} s"
        lease = await second_client.get(Lease, "breakwater", namespace=kube_namespace)
        assert lease.spec is not None
        assert (lease.spec.holderIdentity, lease.spec.leaseTransitions) == ("cp-2", 1)
        assert changes == [("cp-1", True), ("cp-1", False)]

        # A clean stop hands the Lease back: the other takes it at its next try.
        await first.start()
        assert not first.leading
        await second.stop()
        handed = time.monotonic()
        assert await first.wait_leading(DURATION)
        assert time.monotonic() - handed < DURATION
    finally:
        await first.stop()
        await second.stop()


async def test_a_replica_without_the_right_says_which_rule_is_missing(
    kube: KubeApiServer, kube_admin: Client, kube_namespace: str
) -> None:
    rule = PolicyRule(apiGroups=["coordination.k8s.io"], resources=["leases"], verbs=["get"])
    with granted(kube_admin, kube.restricted.name, [rule]):
        async with AsyncClient(KubeConfig.from_file(kube.restricted.kubeconfig)) as client:
            election = LeaderElection(client, kube_namespace, "breakwater", "cp-1")
            await election.start()
            try:
                assert not election.leading
                assert election.error is not None
                assert "create leases" in election.error and "coordination.k8s.io" in election.error
                assert "RBAC rule" in election.error
            finally:
                await election.stop()
