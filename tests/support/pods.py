"""A real upstream process running as a pod would: inside a pod network, at the pod's address.

It is `python -m breakwater.devtools.upstream`, started through `ip netns exec`, so it
binds the pod's address and nothing on the host's interfaces; its first line names the
port the kernel gave it.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Self

from breakwater.devtools.process import LoggedProcess
from tests.support.netns import PodNetwork


class PodUpstream(LoggedProcess):
    """The upstream `instance` of `service`, in `network`; `address` and `port` once started."""

    def __init__(
        self,
        network: PodNetwork,
        workdir: Path,
        instance: str,
        service: str,
        *,
        address: str | None = None,
        port: int = 0,
    ) -> None:
        """`address`: one of the network's (`PodNetwork.add_address`), by default its first;
        `port` 0 lets the kernel choose."""
        super().__init__(workdir / f"{instance}.log")
        self.network = network
        self.instance = instance
        self.service = service
        self.address = address or network.pod_address
        self._port = port
        self.port: int | None = None

    def start(self, timeout: float = 15.0) -> Self:
        command = [sys.executable, "-m", "breakwater.devtools.upstream"]
        command += ["--host", self.address, "--instance", self.instance, "--service", self.service]
        command += ["--port", str(self._port)]
        # Started again (a pod's process restarted), it must be this run's line that is read.
        self.port = None
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        process = self.spawn(self.network.run_in(command))
        listening = re.compile(rf"listening on http://{re.escape(self.address)}:(\d+)")
        deadline = time.monotonic() + timeout
        while self.port is None:
            if process.poll() is not None:
                raise RuntimeError(f"the pod's upstream exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the pod's upstream did not start:\n{self.log_tail()}")
            text = self.log_path.read_text()[offset:] if self.log_path.exists() else ""
            found = listening.search(text)
            self.port = int(found.group(1)) if found else None
            time.sleep(0.05)
        return self


__all__ = ["PodUpstream"]
