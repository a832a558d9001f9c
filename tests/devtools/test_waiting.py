"""The one polling loop every test, the demo and benchmarks wait with."""

from __future__ import annotations

import pytest

from breakwater.devtools.waiting import WaitTimeout, wait_until


def test_returns_the_first_truthy_value_and_treats_errors_as_not_yet() -> None:
    answers = iter([ConnectionRefusedError(), None, 0, "ready"])

    def poll() -> str | int | None:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_until(poll, 2.0, "ready", interval=0.001) == "ready"


def test_running_out_is_both_a_failed_assertion_and_a_timeout() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nobody home")

    with pytest.raises(WaitTimeout, match=r"waiting for the port .*nobody home") as caught:
        wait_until(refused, 0.05, "the port", interval=0.01)
    assert isinstance(caught.value, AssertionError)
    assert isinstance(caught.value, TimeoutError)


def test_an_error_from_check_ends_the_wait_at_once() -> None:
    def check() -> None:
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="the process exited"):
        wait_until(lambda: False, 10.0, "never", check=check)
