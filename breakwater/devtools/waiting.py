"""Poll a condition against a deadline.

Tests, the demo and benchmarks wait for things that happen in other processes
(Envoy applying a config, a server becoming ready); they all wait the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError, AssertionError):
    """A wait ran out: a ``TimeoutError`` to code, a failed expectation to pytest."""


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 5.0,
    what: str = "condition",
    interval: float = 0.02,
    *,
    check: Callable[[], None] | None = None,
) -> T:
    """Poll until ``predicate`` returns something truthy and return it.

    Errors raised by the predicate (connection refused while a process boots, a
    key missing from a partial answer) count as "not yet" and are shown if the
    wait runs out; errors raised by ``check`` end the wait. Raises
    :class:`WaitTimeout` naming ``what``.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if check is not None:
            check()
        try:
            result = predicate()
            if result:
                return result
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(interval)


__all__ = ["WaitTimeout", "wait_until"]
