"""Free ports come from below the ephemeral range, distinct, and bindable."""

from __future__ import annotations

import socket

import pytest

from breakwater.devtools import ports


def test_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    picked = ports.free_ports(50)
    assert len(set(picked)) == 50
    assert all(ports.LOWEST_PICKED <= port < ports._ephemeral_start() for port in picked)
    for port in picked[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((ports.LOOPBACK, port))


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind((ports.LOOPBACK, ports.free_port()))
        held.listen()
        taken = held.getsockname()[1]
        draws = iter([taken, taken, *ports.free_ports(3)])
        monkeypatch.setattr(
            "breakwater.devtools.ports.random.randint", lambda low, high: next(draws)
        )
        picked = ports.free_ports(2)
    assert taken not in picked and len(set(picked)) == 2
