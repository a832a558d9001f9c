"""Fixtures of the etcd tests: a real etcd per test, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.etcd.etcd_server import EtcdServer
from tests.etcd.fleet import Fleet


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    with EtcdServer(tmp_path / "etcd") as server:
        yield server


@pytest.fixture
def fleet(tmp_path: Path, etcd: EtcdServer) -> Iterator[Fleet]:
    built = Fleet(tmp_path, etcd)
    try:
        yield built
    finally:
        built.close()
