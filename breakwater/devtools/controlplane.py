"""The real control plane in a background thread, for tests, the demo and benchmarks.

Everything runs as in `breakwater serve` (the same `ControlPlane`), on its own
event loop in a thread, so synchronous test code can drive Envoy and traffic
while the control plane serves.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.app import ControlPlane, ServeConfig
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.controlplane.kubernetes.options import KubernetesOptions


class ControlPlaneThread:
    def __init__(
        self,
        policy_dir: Path,
        state_dir: Path,
        *,
        xds_port: int = 0,
        admin_port: int = 0,
        debounce_quiet: float = 0.05,
        debounce_cap: float = 0.5,
        poll_interval: float = 0.1,
        security: SecurityConfig | None = None,
        store_url: str | None = None,
        replica_id: str | None = None,
        fleet: FleetOptions | None = None,
        ratelimit_config: Path | None = None,
        kubernetes: KubernetesOptions | None = None,
    ) -> None:
        """`store_url` (etcd://...) shares the state with other replicas; `state_dir` is then
        unused. `kubernetes` reads the policies from an API server instead of `policy_dir`."""
        self.config = ServeConfig(
            policy_dir=policy_dir,
            state_dir=state_dir,
            xds_port=xds_port,
            admin_port=admin_port,
            debounce_quiet=debounce_quiet,
            debounce_cap=debounce_cap,
            poll_interval=poll_interval,
            security=security or SecurityConfig(),
            store_url=store_url,
            replica_id=replica_id,
            fleet=fleet or FleetOptions(),
            ratelimit_config=ratelimit_config,
            kubernetes=kubernetes,
        )
        self.plane: ControlPlane | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def xds_port(self) -> int:
        assert self.plane is not None, "not started"
        return self.plane.xds_port

    @property
    def admin_port(self) -> int:
        assert self.plane is not None, "not started"
        return self.plane.admin_port

    @property
    def admin_url(self) -> str:
        scheme = "https" if self.config.security.tls_cert is not None else "http"
        return f"{scheme}://127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 15.0) -> Self:
        started: Future[None] = Future()

        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                self.plane = ControlPlane(self.config)
                await self.plane.start()
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            await self._stop.wait()
            await self.plane.stop(grace=0.5)

        def target() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(main())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=target, name="breakwater-control-plane", daemon=True)
        self._thread.start()
        started.result(timeout)
        return self

    def call(self, fn: Any, *args: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine function on the control plane's loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(fn(*args), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
