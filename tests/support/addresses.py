"""This machine's own non-loopback address, as a pod's IP is its own in Kubernetes."""

from __future__ import annotations

import socket

import pytest


def own_address() -> str:
    """The IPv4 address this machine reaches other hosts from, or skip when it has only loopback.

    A UDP `connect` sends nothing: it only asks the kernel which source address it would use.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.1", 9))
            address = str(probe.getsockname()[0])
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127.") or address == "0.0.0.0":
        pytest.skip("this machine has no non-loopback IPv4 address to listen and connect on")
    return address
