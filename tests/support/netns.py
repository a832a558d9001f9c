"""A pod's network: a network namespace of its own, joined to the host by a veth pair.

Kubernetes refuses loopback addresses in EndpointSlices, so a backend that Kubernetes
would list must live where a pod does: at an address of its own, here 10.213.N.2/24 in a
network namespace, reached from the host through 10.213.N.1 on the other end of a veth
pair. Only these addresses carry traffic: the namespace has no default route, and
nothing here sends to any other address beyond loopback.

It takes root and `ip` (iproute2). Each network takes the first 10.213.N.0/24 no
interface on the host holds yet, chosen under a lock, so that runs side by side on one
machine never share a subnet. Everything made is removed when the block ends, failed
or not, and a setup that fails halfway removes what it made.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

POD_SUBNETS = ipaddress.IPv4Network("10.213.0.0/16")
"""Where pod networks come from; far from the API server's ClusterIPs (10.0.0.0/24)."""

_LOCK = Path(tempfile.gettempdir()) / "breakwater-pod-networks.lock"


def _ip(*args: str, check: bool = True) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def require_ip() -> None:
    """Fail with what to do when this machine cannot make network namespaces."""
    if shutil.which("ip") is None:
        pytest.fail(
            "these tests need the `ip` command: install iproute2 (apt-get install iproute2)",
            pytrace=False,
        )
    if os.geteuid() != 0:
        pytest.fail("these tests make network namespaces, which takes root: run them as root")


def _taken_subnets() -> set[ipaddress.IPv4Network]:
    taken = set()
    for line in _ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        if "inet" in fields:
            interface = ipaddress.IPv4Interface(fields[fields.index("inet") + 1])
            taken.add(interface.network)
    return taken


@dataclass(frozen=True)
class PodNetwork:
    """One network namespace with the pod's address; `run_in` prefixes a command to run there."""

    namespace: str
    host_interface: str
    subnet: ipaddress.IPv4Network

    @property
    def host_address(self) -> str:
        return str(self.subnet[1])

    @property
    def pod_address(self) -> str:
        return str(self.subnet[2])

    def run_in(self, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *command]

    def add_address(self, index: int) -> str:
        """Another pod address in the same namespace, 10.213.N.(2 + index), for several pods
        that share one network (and one veth pair); index 0 is `pod_address`, always there."""
        address = str(self.subnet[2 + index])
        if index > 0:
            _ip(
                "-n",
                self.namespace,
                "addr",
                "add",
                f"{address}/{self.subnet.prefixlen}",
                "dev",
                "eth0",
                check=False,
            )
        return address


def _create(namespace: str, host_interface: str, subnet: ipaddress.IPv4Network) -> PodNetwork:
    network = PodNetwork(namespace, host_interface, subnet)
    pod_interface = "eth0"
    prefix = subnet.prefixlen
    _ip("netns", "add", namespace)
    _ip(
        "link",
        "add",
        host_interface,
        "type",
        "veth",
        "peer",
        "name",
        pod_interface,
        "netns",
        namespace,
    )
    _ip("addr", "add", f"{network.host_address}/{prefix}", "dev", host_interface)
    _ip("link", "set", host_interface, "up")
    _ip("-n", namespace, "addr", "add", f"{network.pod_address}/{prefix}", "dev", pod_interface)
    _ip("-n", namespace, "link", "set", pod_interface, "up")
    _ip("-n", namespace, "link", "set", "lo", "up")
    return network


def _remove(namespace: str, host_interface: str) -> None:
    """Delete the veth pair now (a namespace's devices otherwise go a moment after it), then
    the namespace; whatever is already gone is skipped."""
    _ip("link", "del", host_interface, check=False)
    _ip("netns", "del", namespace, check=False)


@contextlib.contextmanager
def pod_network() -> Iterator[PodNetwork]:
    """A fresh pod network for the block; removed afterwards, also when the block fails."""
    require_ip()
    token = secrets.token_hex(3)
    namespace, host_interface = f"bw-pod-{token}", f"bwh{token}"
    try:
        with _LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            taken = _taken_subnets()
            subnet = next(
                (
                    s
                    for s in POD_SUBNETS.subnets(new_prefix=24)
                    if not any(s.overlaps(t) for t in taken)
                ),
                None,
            )
            if subnet is None:
                raise RuntimeError(f"every /24 of {POD_SUBNETS} is in use on this machine")
            network = _create(namespace, host_interface, subnet)
        yield network
    finally:
        _remove(namespace, host_interface)


__all__ = ["POD_SUBNETS", "PodNetwork", "pod_network", "require_ip"]
