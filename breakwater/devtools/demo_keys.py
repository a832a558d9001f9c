"""The keys of `make demo`: one keystroke, one thing done to the canary or its rollout.

The demo keeps drawing rounds of traffic while it waits for a key, so the
keys are read between rounds with a timeout rather than by a blocking read.
On a terminal, stdin goes into cbreak mode (each key arrives at once, with
no Enter, and Ctrl-C still interrupts) and is put back as it was on the way
out; from a pipe, each line's first character is a key, and an input that
ended (`< /dev/null`) is simply not read any more. Ctrl-C and SIGTERM are
heard here too, and answered between rounds like a key.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Literal

Action = Literal["break", "fix", "promote", "pause", "abort", "retry", "quit"]


@dataclass(frozen=True)
class Key:
    key: str
    action: Action
    says: str


KEYS: tuple[Key, ...] = (
    Key("b", "break", "break the canary: it answers 40 % of its requests with 503"),
    Key("f", "fix", "fix the canary"),
    Key("p", "promote", "promote the rollout's current step"),
    Key("s", "pause", "pause the rollout, or resume it"),
    Key("a", "abort", "abort the rollout: all traffic back to stable"),
    Key("r", "retry", "retry a rolled back or aborted rollout from its first step"),
    Key("q", "quit", "stop everything (as Ctrl-C does)"),
)
_BY_KEY = {k.key: k.action for k in KEYS}


def menu() -> str:
    return "\n".join(f"  {k.key}  {k.says}" for k in KEYS)


def reminder() -> str:
    """The keys on one line, repeated now and then so that they never scroll out of sight."""
    return "keys: " + " · ".join(f"{k.key} {k.action}" for k in KEYS)


class KeyReader:
    """Keys from stdin, waited for at most a given time; `None` when none came."""

    def __init__(self, stream: int | None = None) -> None:
        self._fd = sys.stdin.fileno() if stream is None else stream
        self._terminal = os.isatty(self._fd)
        self._ended = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[KeyReader]:
        """Cbreak mode for the time of the demo, on a terminal; the old mode back after."""
        if not self._terminal:
            yield self
            return
        saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)
        try:
            yield self
        finally:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)

    def wait(self, seconds: float) -> Action | None:
        """The action of the next known key typed within `seconds`; unknown keys are skipped."""
        if self._ended:
            select.select([], [], [], seconds)
            return None
        ready, _, _ = select.select([self._fd], [], [], seconds)
        if not ready:
            return None
        data = os.read(self._fd, 64 if self._terminal else 4096)
        if not data:
            self._ended = True
            return None
        for char in data.decode(errors="replace").lower():
            if char in _BY_KEY:
                return _BY_KEY[char]
        return None


class Stop(Exception):
    """Ctrl-C or SIGTERM reached the demo: it stops everything it started."""


STOPPING = threading.Event()
"""Set by SIGINT or SIGTERM; the demo stops at its next round. A handler that raised would
land in whatever runs at that moment, an HTTP client's callback on the traffic's own event
loop included, where the exception is logged and swallowed and the demo would go on."""


def on_signal(signum: int, frame: FrameType | None) -> None:
    # Once: a second Ctrl-C must not cut the shutdown short and leave Envoy running.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    STOPPING.set()


def stop_if_asked() -> None:
    if STOPPING.is_set():
        raise Stop


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    STOPPING.clear()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, on_signal)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
