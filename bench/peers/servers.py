"""The peer control planes in their own processes, driven like ``bench.server.BreakwaterServer``.

Each peer serves the snapshots ``bench.peers.resources`` recorded from
Breakwater and switches between them when its publish hook is called, so a
push to it is the same change Breakwater gets through its API. Built by
``make bench`` (``go build``, ``mvn -q package``) into ``build/``; a peer whose
binary is missing is reported as not built, never built here.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

from bench import proc
from breakwater.devtools.adminclient import http
from breakwater.devtools.ports import LOOPBACK, free_ports
from tests.support.proc import rss_bytes

ROOT = Path(__file__).resolve().parents[2]
PeerKind = Literal["go", "java"]
GO_BINARY = ROOT / "build" / "peer-go"
JAVA_JAR = ROOT / "build" / "peer-java" / "peer-java.jar"
JAVA_HEAP = "2g"
"""The JVM's heap limit, so that idle memory is not a matter of its default (¼ of RAM)."""


def peer_command(kind: PeerKind) -> list[str] | None:
    """How to start a built peer; ``None`` when it is not built (run ``make bench``)."""
    if kind == "go":
        return [str(GO_BINARY)] if GO_BINARY.exists() else None
    java = shutil.which("java")
    if java is None or not JAVA_JAR.exists():
        return None
    return [java, f"-Xmx{JAVA_HEAP}", "-jar", str(JAVA_JAR)]


class PeerServer:
    """A go-control-plane or java-control-plane server over the snapshots in ``snapshots``."""

    def __init__(self, kind: PeerKind, snapshots: Path, workdir: Path) -> None:
        self.kind = kind
        self.snapshots = snapshots
        self.workdir = workdir
        self.log_path = workdir / f"peer-{kind}.log"
        self.xds_port, self.hook_port = free_ports(2)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def xds_target(self) -> str:
        return f"{LOOPBACK}:{self.xds_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, timeout: float = 60.0) -> PeerServer:
        command = peer_command(self.kind)
        if command is None:
            raise FileNotFoundError(f"the {self.kind} peer is not built; run `make bench`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        arguments = ["-ads", self.xds_target, "-http", f"{LOOPBACK}:{self.hook_port}"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *arguments, "-dir", str(self.snapshots)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} peer exited: {self.log_path.read_text()[-800:]}")
            try:
                if (
                    http("GET", f"http://{LOOPBACK}:{self.hook_port}/ready", timeout=2).status
                    == 200
                ):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{self.kind} peer not ready after {timeout}s")

    def publish(self, index: int) -> None:
        """Serve snapshot ``index`` (the publish hook; 0 is the starting state)."""
        url = f"http://{LOOPBACK}:{self.hook_port}/publish?index={index}"
        reply = http("POST", url, timeout=30)
        if reply.status != 200:
            raise RuntimeError(f"{self.kind} peer publish answered {reply.status}: {reply.text!r}")

    def cpu_seconds(self) -> float:
        return proc.cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> PeerServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
