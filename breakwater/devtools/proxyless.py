"""Real gRPC servers and real proxyless gRPC clients (grpcio's own xDS client, or grpc-go's),
for the tests (`tests/proxyless`) and the benchmark (`bench.proxyless`).

The servers answer one unary method with their instance name and count every
call they get, by the status they answered, so a test proves what the
client did from what the servers saw. The client runs in a subprocess
(`breakwater.devtools.proxyless_client`): grpcio's xDS client reads its bootstrap
when the first xDS channel is made and is shared by the whole process, so
each client, with its own node, lives in a process of its own. The test
sends it batches of calls over stdin and reads each batch's answers back.
grpc-go's client (`tests/proxyless/goclient`, built by `breakwater.devtools.grpc_go_client`)
speaks the same protocol, so one `XdsClient` drives either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent import futures
from typing import Any

import grpc

from breakwater.controlplane.bootstrap import render_grpc_bootstrap
from breakwater.devtools.ports import LOOPBACK

METHOD = "/breakwater.test.Echo/Call"
SERVICE, CALL = "breakwater.test.Echo", "Call"


class GrpcBackend:
    """A gRPC server on 127.0.0.1 answering `METHOD` with its name, or failing when told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failing: grpc.StatusCode | None = None
        self.answered: Counter[str] = Counter()
        """Status name → calls answered with it (`OK`, `UNAVAILABLE`)."""
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.unary_unary_rpc_method_handler(self._call)
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {CALL: handler}),)
        )
        self.port = self._server.add_insecure_port(f"{LOOPBACK}:0")
        self._server.start()

    def _call(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        failing = self.failing
        with self._lock:
            self.answered["OK" if failing is None else failing.name] += 1
        if failing is not None:
            context.abort(failing, f"{self.name} is failing on purpose")
        return self.name.encode()

    @property
    def calls(self) -> int:
        with self._lock:
            return sum(self.answered.values())

    def stop(self) -> None:
        self._server.stop(grace=None).wait(5)


GRPCIO_CLIENT = (sys.executable, "-m", "breakwater.devtools.proxyless_client")
"""grpcio's (C-core's) xDS client; the command of grpc-go's is its binary's path."""


class XdsClient:
    """An xDS client in a subprocess, dialing `xds:///<target>`: grpcio's unless `program`
    names another (grpc-go's), with the plain bootstrap of node `node_id` unless `bootstrap`
    is given, and `env` added to the environment (experimental gRPC switches)."""

    def __init__(
        self,
        xds_port: int,
        node_id: str,
        target: str,
        *,
        program: Sequence[str] = GRPCIO_CLIENT,
        bootstrap: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if bootstrap is None:
            bootstrap = render_grpc_bootstrap(node_id, "proxyless", [(LOOPBACK, xds_port)])
        environment = dict(os.environ)
        environment.pop("GRPC_XDS_BOOTSTRAP", None)
        environment["GRPC_XDS_BOOTSTRAP_CONFIG"] = json.dumps(bootstrap)
        environment.update(env or {})
        self._process = subprocess.Popen(
            [*program, target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )

    def calls(
        self, count: int, metadata: dict[str, str] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Make `count` calls, one after another; their answers: `by` (instance → calls
        answered OK) and `errors` (status name → calls that failed), and the first error's
        text in `detail`."""
        assert self._process.stdin is not None and self._process.stdout is not None
        command = {"calls": count, "metadata": metadata or {}, "timeout": timeout}
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise AssertionError(f"the gRPC client ended: {self.stderr()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stderr(self) -> str:
        if self._process.poll() is None:
            self.stop()
        assert self._process.stderr is not None
        return self._process.stderr.read()[-4000:]

    def stop(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)


__all__ = ["GRPCIO_CLIENT", "METHOD", "GrpcBackend", "XdsClient"]
