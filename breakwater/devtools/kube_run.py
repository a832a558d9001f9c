"""How the built kube-apiserver is run, as controller-runtime's envtest runs it: its flags.

The tests (tests/support/kube_apiserver.py) and the benchmarks (bench/kubernetes.py)
both start it this way: alone on its etcd, on loopback, users from a static token
file, RBAC, a service-account key of the caller's, and no controllers.
"""

from __future__ import annotations

from pathlib import Path

from breakwater.devtools.ports import LOOPBACK

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
"""envtest's: ClusterIPs come from here, far from the pods' 10.213.0.0/16 (tests/support/netns)."""

UNCACHED_RESOURCE = "podtemplates"
"""Read from etcd on every watch: the API server's watch cache keeps events across an etcd
compaction, so only a resource without it shows what a compacted resourceVersion gets
(410 Gone). Nothing Breakwater reads; everything else keeps the cache, as in production."""


def apiserver_command(
    binary: Path,
    *,
    etcd_url: str,
    port: int,
    cert_dir: Path,
    tokens: Path,
    signing_key: Path,
    serving: tuple[Path, Path] | None = None,
) -> list[str]:
    """envtest's flags, with tokens instead of client certificates for the users.

    `serving` is the (certificate, key) the server presents; None lets it make a
    self-signed one in `cert_dir` (`apiserver.crt`).
    """
    url = f"https://{LOOPBACK}:{port}"
    tls = (
        []
        if serving is None
        else [f"--tls-cert-file={serving[0]}", f"--tls-private-key-file={serving[1]}"]
    )
    return [
        str(binary),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        *tls,
        f"--token-auth-file={tokens}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        f"--service-account-issuer={url}/",
        f"--service-account-key-file={signing_key}",
        f"--service-account-signing-key-file={signing_key}",
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        # It would publish the advertise address as the `kubernetes` Service's endpoint,
        # and refuses to start with a loopback one; nothing reaches the server that way.
        "--endpoint-reconciler-type=none",
        f"--watch-cache-sizes={UNCACHED_RESOURCE}#0",
    ]


__all__ = ["SERVICE_CLUSTER_IP_RANGE", "UNCACHED_RESOURCE", "apiserver_command"]
