"""A program in a real terminal: tmux runs it, keys are typed into it, its screen is read.

For what needs a terminal to be what it is (single keys without Enter, Ctrl-C
as a signal from the terminal): a pipe would not show it. tmux is Debian's
`tmux`; `Terminal.require()` names the package when it is missing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pytest

EXITED = "terminal-program-exited-with"
"""Printed after the program ends, with its exit status."""


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, whatever session it started for itself."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    waiting = [pid]
    while waiting:
        for child in children.get(waiting.pop(), []):
            if child not in found:
                found.add(child)
                waiting.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Terminal:
    """One tmux session running one command; closed (and its processes gone) on exit."""

    def __init__(self, command: Sequence[str], *, cwd: Path, width: int = 220) -> None:
        self.name = f"test-{uuid.uuid4().hex[:10]}"
        line = f"{shlex.join(command)}; echo {EXITED} $?; sleep 600"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", "50", line],
            check=True,
            cwd=cwd,
            env={**os.environ, "TERM": "xterm"},
        )
        self.shell = int(self._tmux("display-message", "-p", "-t", self.name, "#{pane_pid}"))

    @staticmethod
    def require() -> None:
        if shutil.which("tmux") is None:
            pytest.fail("this test runs a program in tmux: apt-get install -y tmux")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def screen(self) -> str:
        """Everything the program printed that tmux keeps (its scrollback included)."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-5000", "-t", self.name)

    def press(self, *keys: str) -> None:
        """Keys as tmux names them: `b`, `C-c`."""
        self._tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, text: str, timeout: float, *, after: int = 0) -> int:
        """Wait until `text` shows at or after character `after`; where it starts."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            found = shown.find(text, after)
            if found >= 0:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not show within {timeout:g} s:\n{shown}")
            time.sleep(0.2)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        left = descendants(self.shell)
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False)
        for pid in left:
            if alive(pid):
                os.kill(pid, 9)
