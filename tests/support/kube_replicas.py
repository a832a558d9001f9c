"""Replicas of `serve --kubernetes` as real processes (so a test can `kill -9` the leader),
and which of them holds the Lease.

Each reads only the test's namespace and keeps its Lease and state there too, with a
short lease so a takeover fits in a test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from lightkube import Client
from lightkube.resources.coordination_v1 import Lease

from breakwater.controlplane.kubernetes.lease import LEASE_NAME
from breakwater.devtools.serve import ServeProcess

LEASE_DURATION = 3.0


def replica(
    kubeconfig: Path,
    namespace: str,
    workdir: Path,
    name: str,
    extra_args: Sequence[str] = (),
    *,
    control_namespace: str | None = None,
) -> ServeProcess:
    """One replica (not started) reading `namespace`, its Lease and state in
    `control_namespace` (the same by default); its id is `HOSTNAME-XDSPORT`."""
    return ServeProcess(
        None,
        workdir / f"state-{name}",
        workdir / f"serve-{name}.log",
        name=f"replica {name}",
        extra_args=[
            "--kubernetes",
            "--kubeconfig", str(kubeconfig),
            "--namespace", namespace,
            "--control-namespace", control_namespace or namespace,
            "--lease-duration", f"{LEASE_DURATION:g}",
            *extra_args,
        ],
    )  # fmt: skip


@contextlib.contextmanager
def replicas(
    kubeconfig: Path, namespace: str, workdir: Path, count: int, extra_args: Sequence[str] = ()
) -> Iterator[list[ServeProcess]]:
    """`count` replicas started in turn (the first leads); all stopped afterwards."""
    started: list[ServeProcess] = []
    try:
        for index in range(count):
            one = replica(kubeconfig, namespace, workdir, str(index), extra_args)
            started.append(one.start(timeout=40.0))
        yield started
    finally:
        for one in started:
            one.stop()


def holder(admin: Client, namespace: str) -> str:
    """The identity that holds the Lease ("" when none does)."""
    lease = admin.get(Lease, LEASE_NAME, namespace=namespace)
    return (lease.spec.holderIdentity if lease.spec else None) or ""


def holding(admin: Client, namespace: str, candidates: Sequence[ServeProcess]) -> ServeProcess:
    """The replica of `candidates` that holds the Lease."""
    identity = holder(admin, namespace)
    return next(r for r in candidates if identity.endswith(f"-{r.xds_port}"))


__all__ = ["LEASE_DURATION", "holder", "holding", "replica", "replicas"]
