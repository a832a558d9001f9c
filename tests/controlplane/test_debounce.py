"""Debouncing: bursts become one call, steady trickles still get through."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from breakwater.controlplane.debounce import Debouncer


class Recorder:
    """The debounced callback: records when it ran; can be held open or made to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.times: list[float] = []
        self.fail = fail
        self.gate: asyncio.Event | None = None
        self.running = 0
        self.most_running = 0

    async def __call__(self) -> None:
        self.times.append(asyncio.get_running_loop().time())
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail:
                raise RuntimeError("rebuild failed")
        finally:
            self.running -= 1


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_a_burst_becomes_one_call_after_the_quiet_period():
    calls = Recorder()
    debouncer = Debouncer(calls, quiet=0.2, cap=5.0)
    last_signal = 0.0
    for _ in range(10):
        debouncer.signal()
        last_signal = asyncio.get_running_loop().time()
        await asyncio.sleep(0.005)
    assert calls.times == [] and debouncer.pending
    await until(lambda: len(calls.times) == 1)
    assert calls.times[0] >= last_signal + 0.19
    await asyncio.sleep(0.25)
    assert len(calls.times) == 1
    assert (debouncer.signals, debouncer.calls, debouncer.pending) == (10, 1, False)


async def test_the_cap_bounds_the_wait_under_a_steady_trickle():
    calls = Recorder()
    debouncer = Debouncer(calls, quiet=0.2, cap=0.1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(45):  # a signal every 10 ms: never quiet for 200 ms
        debouncer.signal()
        await asyncio.sleep(0.01)
    last_signal = loop.time()
    # Delivered during the trickle anyway, the first time no sooner than the cap.
    assert len([t for t in calls.times if t < last_signal]) >= 2
    assert calls.times[0] >= start + 0.1
    await debouncer.close()


async def test_signals_during_a_call_lead_to_one_more_call_never_concurrent():
    calls = Recorder()
    calls.gate = asyncio.Event()
    debouncer = Debouncer(calls, quiet=0.01, cap=0.1)
    debouncer.signal()
    await until(lambda: calls.running == 1)
    debouncer.signal()
    debouncer.signal()
    await asyncio.sleep(0.05)
    assert len(calls.times) == 1  # the second burst waits for the first call
    calls.gate.set()
    await until(lambda: len(calls.times) == 2)
    await debouncer.flush()
    assert calls.most_running == 1 and len(calls.times) == 2


async def test_a_failing_callback_is_logged_and_the_next_burst_still_runs(caplog):
    calls = Recorder(fail=True)
    debouncer = Debouncer(calls, quiet=0.01)
    with caplog.at_level(logging.ERROR):
        debouncer.signal()
        await debouncer.flush()
        debouncer.signal()
        await debouncer.flush()
    assert len(calls.times) == 2 and debouncer.failures == 2
    assert "debounced callback failed" in caplog.text


async def test_flush_delivers_now_and_close_drops_pending_work():
    calls = Recorder()
    debouncer = Debouncer(calls, quiet=10.0, cap=10.0)
    debouncer.signal()
    await debouncer.flush()
    assert len(calls.times) == 1
    await debouncer.flush()  # nothing pending: no call
    assert len(calls.times) == 1

    debouncer.signal()
    await debouncer.close()
    await asyncio.sleep(0.02)
    assert len(calls.times) == 1
    with pytest.raises(RuntimeError, match="closed"):
        debouncer.signal()


async def test_close_can_deliver_the_pending_burst():
    calls = Recorder()
    debouncer = Debouncer(calls, quiet=10.0, cap=10.0)
    debouncer.signal()
    await debouncer.close(flush=True)
    assert len(calls.times) == 1


def test_negative_periods_are_refused():
    with pytest.raises(ValueError):
        Debouncer(Recorder(), quiet=-1)
