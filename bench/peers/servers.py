"""The peer control planes in their own processes, driven like ``bench.server.BreakwaterServer``.

Each peer serves the snapshots ``bench.peers.resources`` recorded from
Breakwater and switches between them when its publish hook is called, so a
push to it is the same change Breakwater gets through its API. Built by
``make bench`` (``go build``, ``mvn -q package``) into ``build/``; a peer whose
binary is missing is reported as not built, never built here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal, Self

from bench.served import ServedProcess
from breakwater.client import http
from breakwater.devtools.ports import LOOPBACK, free_ports

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


class PeerServer(ServedProcess):
    """A go-control-plane or java-control-plane server over the snapshots in ``snapshots``."""

    def __init__(self, kind: PeerKind, snapshots: Path, workdir: Path) -> None:
        self.kind = kind
        self.snapshots = snapshots
        self.workdir = workdir
        self.xds_port, self.hook_port = free_ports(2)
        self.name = f"{kind} peer"
        super().__init__(workdir / f"peer-{kind}.log")

    @property
    def xds_address(self) -> str:
        return f"{LOOPBACK}:{self.xds_port}"

    def start(self, timeout: float = 60.0) -> Self:
        command = peer_command(self.kind)
        if command is None:
            raise FileNotFoundError(f"the {self.kind} peer is not built; run `make bench`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        arguments = ["-ads", self.xds_address, "-http", f"{LOOPBACK}:{self.hook_port}"]
        ready_url = f"http://{LOOPBACK}:{self.hook_port}/ready"
        return self.launch(
            [*command, *arguments, "-dir", str(self.snapshots)],
            lambda: http("GET", ready_url, timeout=2).status == 200,
            timeout,
        )

    def publish(self, index: int) -> None:
        """Serve snapshot ``index`` (the publish hook; 0 is the starting state)."""
        url = f"http://{LOOPBACK}:{self.hook_port}/publish?index={index}"
        reply = http("POST", url, timeout=30)
        if reply.status != 200:
            raise RuntimeError(f"{self.kind} peer publish answered {reply.status}: {reply.text!r}")
