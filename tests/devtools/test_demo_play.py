"""`make demo` in a real terminal: after its story it stays up, each key does what the screen
says (checked against the control plane's own answer), and Ctrl-C stops everything it started.
A taken port is one sentence."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from breakwater.client import call
from breakwater.defaults import XDS_PORT
from breakwater.devtools.ports import LOOPBACK
from tests.support.terminal import EXITED, Terminal, alive, descendants

ROOT = Path(__file__).resolve().parents[2]


def rollout_phase(admin_url: str) -> str:
    phase: str = call(admin_url, "rollout", {"name": "payments"})["phase"]
    return phase


def test_the_keys_break_fix_retry_promote_and_abort_and_ctrl_c_leaves_nothing_running() -> None:
    Terminal.require()
    command = [sys.executable, "-m", "breakwater.devtools.demo", "--fast", "--free-ports"]
    with Terminal(command, cwd=ROOT) as terminal:
        terminal.wait_for("Your turn", 90)
        shown = terminal.screen()
        admin = re.search(r"admin API\s+(http://\S+)", shown)
        assert admin is not None, shown
        admin_url = admin.group(1)
        assert rollout_phase(admin_url) == "RolledBack"
        started = descendants(terminal.shell)
        assert len(started) >= 2, "the demo and its Envoy"

        mark = len(terminal.screen())
        terminal.press("f")
        terminal.wait_for(">>> the canary is fixed", 10, after=mark)
        terminal.press("r")
        terminal.wait_for(">>> retry: the rollout is Progressing", 10, after=mark)
        assert rollout_phase(admin_url) == "Progressing"
        terminal.press("s")
        terminal.wait_for(">>> pause: the rollout is Paused", 10, after=mark)
        assert rollout_phase(admin_url) == "Paused"
        terminal.press("s")
        terminal.wait_for(">>> resume: the rollout is Progressing", 10, after=mark)
        terminal.press("p")
        terminal.wait_for(">>> promote: the rollout is Progressing: step", 10, after=mark)
        terminal.press("a")
        terminal.wait_for(">>> abort: the rollout is Aborted", 10, after=mark)
        assert rollout_phase(admin_url) == "Aborted"
        terminal.press("a")  # the rollout says why it cannot be aborted twice
        terminal.wait_for(">>> abort: refused:", 10, after=mark)
        # Broken while aborted: nothing to roll back, the canary gets no traffic.
        terminal.press("b")
        terminal.wait_for(
            ">>> the canary now answers 40 % of its requests with 503", 10, after=mark
        )
        assert rollout_phase(admin_url) == "Aborted"

        terminal.press("C-c")
        terminal.wait_for("demo stopped: Envoy, the control plane and the upstreams are down.", 30)
        terminal.wait_for(f"{EXITED} 0", 10)
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in started if alive(pid)], "processes left behind"


def test_a_taken_port_is_one_sentence() -> None:
    with socket.socket() as holder:
        try:
            holder.bind((LOOPBACK, XDS_PORT))
            holder.listen()
        except OSError:
            pass  # someone else holds it: the demo must say so just the same
        done = subprocess.run(
            [sys.executable, "-m", "breakwater.devtools.demo", "--fast"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"demo not started: port {XDS_PORT} (the control plane's xDS port)")
    assert "--free-ports" in lines[0]
