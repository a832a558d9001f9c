"""A whole mesh on loopback: upstreams, the real control plane, one real Envoy.

A test declares its upstreams, then hands `Mesh.start` the policy YAML it
wants to prove (Services, ResiliencePolicies, HTTPRoutes). `$name`
placeholders in the YAML become the ports of the upstreams of that name, and
the Gateway document (`edge`, on a free port, selecting node cluster `edge`)
is written by the mesh. The policies go into a directory that the control
plane watches; Envoy gets everything over ADS from it, exactly as in
production: nothing is handed to Envoy except the bootstrap.

`start` returns once Envoy serves the listener and every cluster reports the
expected number of endpoints and healthy hosts, so the first request of a
test already meets the configuration under test.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar, Unpack

from envoy.config.endpoint.v3 import endpoint_pb2

from breakwater.client import http
from breakwater.controlplane.api.security import SecurityConfig
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.envoy import EnvoyError, EnvoyProcess
from breakwater.devtools.ports import LOOPBACK, free_port
from breakwater.devtools.traffic import (
    DEFAULT_WATCH_HEADERS,
    ContinuousTraffic,
    HeadersArg,
    PathArg,
    TrafficResult,
)
from breakwater.devtools.traffic import send_requests as _send_requests
from breakwater.devtools.upstream import BehaviorChanges, UpstreamServer
from breakwater.devtools.waiting import wait_until
from breakwater.translators.snapshot import node_group, translate
from breakwater.xds_types import ENDPOINT_TYPE
from tests.support.envoy import envoy_for
from tests.support.policies import (
    GATEWAY,
    NODE_CLUSTER,
    SplitRoute,
    gateway,
    load_policy_dir,
    payments_service,
)

T = TypeVar("T")

NODE_ID = "e2e-edge-1"
POLICY_FILE = "policies.yaml"
GATEWAY_FILE = "gateway.yaml"

READY_TIMEOUT = 10.0

PAYMENTS_ROUTE = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: HTTPRoute
metadata: {name: payments}
spec:
  gateways: [edge]
  rules:
    - backends: [{service: payments}]
"""


def service(name: str, *upstreams: str) -> str:
    """A Service document with one endpoint per upstream (`$upstream` becomes its port)."""
    endpoints = "".join(f"    - {{address: 127.0.0.1, port: ${u}}}\n" for u in upstreams)
    return f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {{name: {name}}}
spec:
  endpoints:
{endpoints}"""


def payments_split(weights: Mapping[str, int]) -> str:
    """Service `payments` on upstreams `$stable` and `$canary` (subsets of those names) and
    HTTPRoute `payments` splitting every path between them by `weights`."""
    return (
        "---\n"
        + payments_service("$stable", "$canary")
        + "---\n"
        + SplitRoute(weights=weights).yaml()
    )


def resilience_policy(name: str, body: str) -> str:
    """A ResiliencePolicy document for Service `payments`; `body` is its spec, indented two."""
    return f"""\
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {{name: {name}}}
spec:
  targetRef: {{name: payments}}
{body}"""


class Mesh:
    """Upstreams, a control plane and an Envoy for one test; `close` stops them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.policy_dir = workdir / "policies"
        self.state_dir = workdir / "state"
        self.policy_dir.mkdir()
        self.state_dir.mkdir()
        self.upstreams: dict[str, UpstreamServer] = {}
        self.gateway_port = free_port()
        self.listener = GATEWAY
        self.control_plane: ControlPlaneThread | None = None
        self.envoys: list[EnvoyProcess] = []
        self._report_interval: float | None = None
        self._envoy_args: dict[int, Sequence[str]] = {}
        self._bootstrap: dict[str, Any] = {}
        self._token: str | None = None

    # --- building -------------------------------------------------------------

    def upstream(
        self,
        name: str,
        *,
        service: str,
        subset: str = "default",
        **behavior: Unpack[BehaviorChanges],
    ) -> UpstreamServer:
        """Start an upstream now; `$name` in the policy YAML becomes its port."""
        if name in self.upstreams:
            raise ValueError(f"upstream {name!r} is declared twice")
        server = UpstreamServer(service=service, subset=subset, instance=name, **behavior)
        self.upstreams[name] = server.start()
        return server

    def render(self, policies: str) -> str:
        """The policy text with every `$upstream` replaced by that upstream's port."""
        ports = {name: str(server.port) for name, server in self.upstreams.items()}
        return string.Template(policies).substitute(ports)

    def write_policies(self, policies: str) -> None:
        """Replace the policy file the control plane watches, atomically (write, then rename)."""
        target = self.policy_dir / POLICY_FILE
        scratch = self.workdir / (POLICY_FILE + ".new")
        scratch.write_text(self.render(policies))
        os.replace(scratch, target)

    def start(
        self,
        policies: str,
        *,
        healthy: Mapping[str, int] | None = None,
        envoys: int = 1,
        report_interval: float | None = None,
        envoy_args: Mapping[int, Sequence[str]] | None = None,
        ready: Sequence[int] | None = None,
        gateway_spec: str = "",
        security: SecurityConfig | None = None,
        gateway_document: str | None = None,
        listener: str = GATEWAY,
        bootstrap: Mapping[str, Any] | None = None,
        ratelimit_config: Path | None = None,
    ) -> Mesh:
        """Write the policies, start the control plane and Envoys, wait until traffic can flow.

        `healthy` gives, per cluster, how many hosts must be healthy before
        the test begins (default: all of them); a cluster whose hosts fail
        their health check on purpose names a lower number here. `envoys`
        proxies share the gateway's node cluster and its port (Envoy binds
        listeners with SO_REUSEPORT, so the kernel spreads connections over
        them). `report_interval` (seconds) sets how often they report their stats
        and load to the control plane. `gateway_spec` is more of the Gateway's
        spec, indented two spaces (a gateway-wide `rateLimit`). `security` is the admin
        API's (a token for writes). `gateway_document` replaces the Gateway document
        altogether (a Gateway API one: `$gateway_port` becomes the mesh's port), and
        `listener` names the Envoy listener it becomes. `bootstrap` holds further options of
        `render_bootstrap` for every Envoy (the overload manager's caps).
        `ratelimit_config` is where the control plane keeps the rate-limit service's
        configuration (`serve --ratelimit-config`).
        """
        self.listener = listener
        (self.policy_dir / GATEWAY_FILE).write_text(
            gateway(self.gateway_port, GATEWAY, NODE_CLUSTER, gateway_spec)
            if gateway_document is None
            else string.Template(gateway_document).substitute(gateway_port=self.gateway_port)
        )
        self.write_policies(policies)
        endpoints = self._expected_endpoints()
        self._report_interval = report_interval
        self._envoy_args = dict(envoy_args or {})
        self._bootstrap = dict(bootstrap or {})
        self._token = None if security is None else security.token
        fleet = None
        if report_interval is not None:
            fleet = FleetOptions(load_report_interval=report_interval)
        self.control_plane = ControlPlaneThread(
            self.policy_dir,
            self.state_dir,
            fleet=fleet,
            security=security,
            ratelimit_config=ratelimit_config,
        ).start()
        for index in range(envoys):
            self.envoys.append(self._start_envoy(index, report_interval))
        wanted = {
            name: (total, (healthy or {}).get(name, total)) for name, total in endpoints.items()
        }
        for index in range(envoys) if ready is None else ready:
            self.wait_ready(index, wanted)
        return self

    def _start_envoy(self, index: int, report_interval: float | None) -> EnvoyProcess:
        options: dict[str, Any] = dict(self._bootstrap)
        if report_interval is not None:
            options["stats_flush_interval"] = f"{report_interval}s"
        assert self.control_plane is not None
        envoy = envoy_for(
            self.control_plane.xds_port,
            self.node_id(index),
            self.workdir / f"envoy-{index}",
            cluster=NODE_CLUSTER,
            log_level="warn",
            extra_args=self._envoy_args.get(index, ()),
            **options,
        )
        envoy.start()
        return envoy

    def node_id(self, index: int) -> str:
        return NODE_ID if index == 0 else f"{NODE_ID}-{index}"

    def restart_envoy(self, index: int) -> EnvoyProcess:
        """Stop one Envoy and start a new process with the same node: its counters start at 0."""
        self.envoys[index].stop()
        self.envoys[index] = self._start_envoy(index, self._report_interval)
        return self.envoys[index]

    def wait_ready(self, index: int, wanted: Mapping[str, tuple[int, int]] | None = None) -> None:
        if wanted is None:
            wanted = {name: (total, total) for name, total in self._expected_endpoints().items()}
        envoy = self.envoys[index]
        try:
            self.wait_for(
                lambda: self._serving(envoy, wanted), READY_TIMEOUT, "the gateway to serve"
            )
        except AssertionError as error:
            membership = {
                name: value
                for name, value in self.stats(index).items()
                if name.endswith((".membership_total", ".membership_healthy"))
            }
            raise AssertionError(
                f"{error}\nwanted (endpoints, healthy) per cluster: {wanted}\n"
                f"Envoy has: {membership}\n{envoy.log_tail(20)}"
            ) from None

    def _expected_endpoints(self) -> dict[str, int]:
        """Cluster name → number of endpoints, from the same translation the control plane does."""
        policyset, errors = load_policy_dir(self.policy_dir)
        if policyset is None:
            raise ValueError("the test's policies are invalid:\n" + "\n".join(map(str, errors)))
        resources = translate(policyset, node_group(policyset, NODE_CLUSTER, {}))
        counts: dict[str, int] = {}
        for assignment in resources[ENDPOINT_TYPE]:
            assert isinstance(assignment, endpoint_pb2.ClusterLoadAssignment)
            counts[assignment.cluster_name] = sum(
                len(locality.lb_endpoints) for locality in assignment.endpoints
            )
        return counts

    def _serving(self, envoy: EnvoyProcess, wanted: Mapping[str, tuple[int, int]]) -> bool:
        if self.listener not in envoy.dynamic_names("listeners"):
            return False
        if self.listener not in envoy.dynamic_names("routes"):
            return False
        stats = self.stats(self.envoys.index(envoy))
        return all(
            stats.get(f"cluster.{name}.membership_total") == total
            and stats.get(f"cluster.{name}.membership_healthy") == healthy
            for name, (total, healthy) in wanted.items()
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop Envoy first (no traffic in flight to dead upstreams), then the rest."""
        for envoy in self.envoys:
            envoy.stop()
        if self.control_plane is not None:
            self.control_plane.stop()
        for server in self.upstreams.values():
            server.stop()

    # --- observing --------------------------------------------------------------

    @property
    def envoy(self) -> EnvoyProcess:
        if not self.envoys:
            raise RuntimeError("the mesh is not started")
        return self.envoys[0]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.gateway_port}"

    def send(
        self,
        count: int,
        *,
        concurrency: int = 1,
        path: PathArg = "/",
        headers: HeadersArg = None,
        timeout: float = 5.0,
        max_duration: float = 30.0,
        watch_headers: Iterable[str] = DEFAULT_WATCH_HEADERS,
    ) -> TrafficResult:
        """`count` requests through the gateway, bounded in number and time; the records keep
        the response headers named in `watch_headers`."""
        return _send_requests(
            self.url,
            count,
            concurrency=concurrency,
            path=path,
            headers=headers,
            timeout=timeout,
            max_duration=max_duration,
            watch_headers=watch_headers,
        )

    def continuous(
        self, rate: float, *, max_duration: float = 20.0, path: PathArg = "/"
    ) -> ContinuousTraffic:
        return ContinuousTraffic(
            self.url, rate=rate, path=path, timeout=2.0, max_duration=max_duration
        )

    def stats(self, index: int = 0) -> dict[str, int]:
        """Envoy's counters and gauges by name.

        Read here rather than through `EnvoyProcess.stats`, which expects every
        value to be a number: Envoy's JSON also holds text readouts (the
        version of each xDS resource type). No server-side filter either: the
        cluster names hold `|` and `+`, which would need escaping twice, for
        the regex and for the query string.
        """
        payload = json.loads(self.envoys[index].admin("/stats?format=json"))
        return {
            entry["name"]: int(entry["value"])
            for entry in payload.get("stats", [])
            if isinstance(entry.get("value"), int)
        }

    def cluster_stat(self, cluster: str, stat: str, index: int = 0) -> int:
        """One stat of a cluster, e.g. `cluster_stat("payments", "upstream_rq_retry")`.

        Envoy creates the stats of each response code (`upstream_rq_503`) on
        first use, so a missing stat of a known cluster reads as 0.
        """
        stats = self.stats(index)
        if f"cluster.{cluster}.membership_total" not in stats:
            raise KeyError(f"Envoy has no cluster {cluster!r}")
        return stats.get(f"cluster.{cluster}.{stat}", 0)

    def host_flags(self, cluster: str) -> dict[str, dict[str, Any]]:
        """Upstream name → Envoy's `health_status` of that host in `cluster` (from /clusters)."""
        by_port = {server.port: name for name, server in self.upstreams.items()}
        for status in self.envoy.clusters().get("cluster_statuses", []):
            if status["name"] != cluster:
                continue
            hosts: dict[str, dict[str, Any]] = {}
            for host in status.get("host_statuses", []):
                port = int(host["address"]["socket_address"]["port_value"])
                hosts[by_port.get(port, str(port))] = dict(host.get("health_status", {}))
            return hosts
        raise KeyError(f"Envoy has no cluster {cluster!r}")

    def cluster_config(self, name: str) -> dict[str, Any] | None:
        """One dynamic cluster as Envoy holds it now (its circuit breakers, outlier detection)."""
        for config in self.envoy.config_dump()["configs"]:
            if not config["@type"].endswith("ClustersConfigDump"):
                continue
            for entry in config.get("dynamic_active_clusters", []):
                cluster: dict[str, Any] = entry.get("cluster", {})
                if cluster.get("name") == name:
                    return cluster
        return None

    def route_action(self, route_name: str) -> dict[str, Any] | None:
        """The `route` action of one Envoy route (e.g. `payments/0/0`) as Envoy holds it now."""
        for config in self.envoy.config_dump()["configs"]:
            if not config["@type"].endswith("RoutesConfigDump"):
                continue
            for entry in config.get("dynamic_route_configs", []):
                for vhost in entry.get("route_config", {}).get("virtual_hosts", []):
                    for route in vhost.get("routes", []):
                        if route.get("name") == route_name:
                            action: dict[str, Any] = route.get("route", {})
                            return action
        return None

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,
        what: str = "condition",
        interval: float = 0.02,
    ) -> T:
        """Poll `predicate` until it returns something truthy, and return that.

        An exception from the predicate counts as "not yet" (an admin answer
        read while Envoy updates); it is shown if the wait runs out. Running
        out is a failed assertion about the mesh (`WaitTimeout`); Envoy exiting
        meanwhile is an error, with its log.
        """

        def alive() -> None:
            if not self.envoy.running:
                raise EnvoyError(f"Envoy exited while waiting for {what}\n" + self.envoy.log_tail())

        return wait_until(predicate, timeout, what, interval, check=alive)

    # --- the control plane's admin API ------------------------------------------

    def admin_api_raw(self, method: str, path: str, body: Any = None) -> Any:
        """The admin API's reply as it is, refusals included (with the token, when it has one)."""
        if self.control_plane is None:
            raise RuntimeError("the mesh is not started")
        headers = {} if self._token is None else {"Authorization": f"Bearer {self._token}"}
        return http(method, self.control_plane.admin_url + path, body, headers=headers, timeout=5.0)

    def admin_api(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.admin_api_raw(method, path, body)
        if reply.status >= 300:
            raise AssertionError(f"{method} {path} answered {reply.status}: {reply.text}")
        return json.loads(reply.text)

    def set_weights(self, route: str, weights: Mapping[str, int], rule: int = 0) -> Any:
        return self.admin_api(
            "PUT", f"/v1/routes/{route}/weights", {"weights": dict(weights), "rule": rule}
        )
