"""The young-generation threshold follows the streams a process serves, above its own."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from breakwater.controlplane.xds.collector import LIMIT, PER_STREAM, CollectorFit


@pytest.fixture
def threshold() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_the_threshold_grows_with_open_streams_and_falls_back_to_the_processes_own(threshold):
    gc.set_threshold(1000, 11, 12)
    fit = CollectorFit()
    for _ in range(100):
        fit.opened()
    assert gc.get_threshold() == (PER_STREAM * 100, 11, 12)
    for _ in range(60):
        fit.closed()
    assert gc.get_threshold() == (1000, 11, 12)  # 40 streams want less than the floor
    for _ in range(LIMIT):
        fit.opened()
    assert gc.get_threshold()[0] == LIMIT
    for _ in range(LIMIT + 100):
        fit.closed()
    assert fit.open == 0
    assert gc.get_threshold() == (1000, 11, 12)


def test_a_process_that_turned_collections_off_keeps_them_off(threshold):
    gc.set_threshold(0)
    fit = CollectorFit()
    fit.opened()
    assert gc.get_threshold()[0] == 0
