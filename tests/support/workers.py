"""`serve --workers N` seen from outside: its worker processes, and who holds which connection.

Read from `/proc` (Linux): a worker is a child of the `serve` process running
`breakwater.controlplane.workers`; the connections a process holds are the TCP sockets among
its file descriptors.
"""

from __future__ import annotations

import os
from pathlib import Path

WORKER_MODULE = "breakwater.controlplane.workers"


def worker_pids(serve_pid: int) -> list[int]:
    """The live worker processes of the `serve` process `serve_pid`."""
    children: list[int] = []
    for task in Path(f"/proc/{serve_pid}/task").glob("*"):
        try:
            children.extend(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    found = []
    for pid in sorted(set(children)):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if WORKER_MODULE.encode() in command:
            found.append(pid)
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def established(pid: int) -> set[tuple[int, int]]:
    """(local port, remote port) of every established TCP connection process `pid` holds (gRPC
    accepts IPv4 connections on IPv6 sockets, so both tables are read)."""
    inodes = _socket_inodes(pid)
    found: set[tuple[int, int]] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "01" or int(fields[9]) not in inodes:  # 01: ESTABLISHED
                continue
            local, remote = fields[1], fields[2]
            found.add((int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)))
    return found


def clients_of(pid: int, port: int) -> set[int]:
    """The client-side ports of the connections to `port` that process `pid` serves."""
    return {remote for local, remote in established(pid) if local == port}


def worker_serving(serve_pid: int, client_pid: int, port: int) -> int | None:
    """The worker holding a connection from process `client_pid` to `port`, if one does."""
    ours = {local for local, remote in established(client_pid) if remote == port}
    for pid in worker_pids(serve_pid):
        if clients_of(pid, port) & ours:
            return pid
    return None


__all__ = ["clients_of", "established", "worker_pids", "worker_serving"]
