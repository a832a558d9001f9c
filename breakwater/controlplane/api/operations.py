"""The operations of Breakwater's API, shared by the HTTP admin port and the gRPC service.

Both front ends call these functions and only translate in and out: each
returns one of the models in `models`, so a status field is defined once,
and refusals are exceptions that the error table turns into answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from breakwater.controlplane.api.config_models import ExplainResponse, RoutesResponse
from breakwater.controlplane.api.config_views import explain_answer, route_statuses
from breakwater.controlplane.api.instance_models import (
    InstancesResponse,
    RegisteredInstance,
    RegisterRequest,
)
from breakwater.controlplane.api.models import (
    DroppedOverrideStatus,
    EndpointsResponse,
    PolicyStatus,
    ProxyStatus,
    Replica,
    ServiceEndpoint,
    ServiceHealth,
    StatusResponse,
    StoreStatus,
    Weights,
)
from breakwater.controlplane.api.policy_models import (
    GatewayRouteStatus,
    PoliciesResponse,
    PolicyDocument,
    SnapshotsResponse,
)
from breakwater.controlplane.api.rollout_models import (
    ChangeEntry,
    ChangesResponse,
    RolloutsResponse,
    RolloutStatus,
)
from breakwater.controlplane.fleet.service import FleetReports
from breakwater.controlplane.fleet.status import PolicyNotFound
from breakwater.controlplane.rollouts.driver import RolloutDriver, RolloutNotFound
from breakwater.controlplane.rollouts.engine import CommandRefused, RolloutMoved
from breakwater.controlplane.rollouts.phases import COMMANDS
from breakwater.controlplane.rollouts.status import rollout_status, rollout_statuses
from breakwater.controlplane.state.controller import PolicyController
from breakwater.controlplane.state.documents import DocumentStatus
from breakwater.controlplane.state.drain_views import EndpointView
from breakwater.controlplane.state.registry import InstanceRegistry, NotRegistrable
from breakwater.translators.ir.gateways import telemetry_gateways
from breakwater.translators.ir.upstreams import (
    ClusterPolicies,
    attached_routes,
    backend_targets,
    backends_of,
    collector_services,
    reachable_targets,
)
from breakwater.translators.policyset import PolicySet

log = logging.getLogger(__name__)

ProxyLister = Callable[[], list[ProxyStatus]]
"""The connected proxies, each with the gateways it serves."""


@dataclass
class ControlPlaneApi:
    controller: PolicyController
    proxies: ProxyLister
    config_version: Callable[[], str]
    replicas: Callable[[], list[dict[str, Any]]]
    """Every live control plane replica, as `Replicas.replicas` lists them."""
    store: Callable[[], dict[str, Any]]
    """Where the state lives and whether it answers, as `Replicas.store_status` says."""
    fleet: FleetReports | None = None
    """What the proxies report: policy effects and service health."""
    rollouts: RolloutDriver | None = None
    writes_need_token: bool = False
    """The server has a token file, so every write needs it."""
    snapshots: Callable[[], SnapshotsResponse] | None = None
    """What every node group is served, resource by resource."""
    registry: InstanceRegistry | None = None
    """The registered instances; None: this server takes no registrations."""

    def _registry(self) -> InstanceRegistry:
        if self.registry is None:
            raise NotRegistrable("this server takes no registrations")
        return self.registry

    async def list_instances(self, service: str) -> InstancesResponse:
        registry = self._registry()
        _, registration = registry.registration(service)
        return InstancesResponse.of(service, registration, await registry.listed(service))

    async def register_instance(
        self, service: str, endpoint: str, request: RegisterRequest, who: str = "api"
    ) -> RegisteredInstance:
        ttl = None if request.ttl is None else request.ttl.total_seconds()
        done = await self._registry().register(
            service, endpoint, request.labels, request.zone, request.weight, ttl, who
        )
        return RegisteredInstance.of(done.instance, done.warnings)

    async def deregister_instance(
        self, service: str, endpoint: str, who: str = "api"
    ) -> RegisteredInstance:
        return RegisteredInstance.of(await self._registry().deregister(service, endpoint, who))

    def served(self) -> SnapshotsResponse:
        """The snapshot of every node group, for `breakwater diff`."""
        return self.snapshots() if self.snapshots is not None else SnapshotsResponse(groups=[])

    def list_rollouts(self) -> RolloutsResponse:
        return RolloutsResponse(
            rollouts=[RolloutStatus.of(v) for v in rollout_statuses(self.controller)]
        )

    def rollout(self, name: str) -> RolloutStatus:
        return RolloutStatus.of(rollout_status(self.controller, name))

    async def rollout_command(
        self,
        name: str,
        what: str,
        expected_phase: str | None = None,
        expected_step: int | None = None,
    ) -> RolloutStatus:
        """Run a command; with an expected phase or step, only if the rollout is still there.

        The check and the command's own read of the progress happen with no await between
        them, and the command is saved compare-and-set: when the progress moved before it was
        saved, the driver checks and computes it again."""
        if what not in COMMANDS:
            raise CommandRefused(f"{what!r} is not a rollout command; use {', '.join(COMMANDS)}")
        if self.rollouts is None:
            raise RolloutNotFound("this server runs no rollouts")

        def check() -> None:
            if expected_phase is None and expected_step is None:
                return
            now = rollout_status(self.controller, name)
            phase = expected_phase or now.phase
            step = now.step if expected_step is None else expected_step
            if (phase, step) != (now.phase, now.step):
                raise RolloutMoved(
                    f"Rollout {name!r} is {now.phase} at step {now.step} now, not {phase} at "
                    f"step {step} as you read it: its analysis or someone else moved it, and "
                    f"{what} was not done; read it again and decide"
                )

        await self.rollouts.command(name, what, check)  # type: ignore[arg-type]
        return RolloutStatus.of(rollout_status(self.controller, name))

    def status(self) -> StatusResponse:
        state = self.controller.state
        return StatusResponse(
            replicas=_replicas(self.replicas()),
            store=StoreStatus.model_validate(self.store()),
            proxies=self.proxies(),
            config_version=self.config_version(),
            policy_version=state.policy_version,
            state_revision=state.revision,
            store_error=state.store_error,
            load_errors=[str(e) for e in state.load_errors],
            dropped_overrides=[DroppedOverrideStatus.of(d) for d in state.dropped],
            drained_endpoints=[
                ServiceEndpoint.of(
                    EndpointView(
                        service,
                        endpoint,
                        state.effective is not None
                        and endpoint in state.effective.drained.get(service, frozenset()),
                        drain,
                    )
                )
                for (service, endpoint), drain in sorted(state.drains.items())
            ],
            services=[ServiceHealth.of(v) for v in self.fleet.services()] if self.fleet else [],
            writes_need_token=self.writes_need_token,
        )

    def policy(self, name: str) -> PolicyStatus:
        """One ResiliencePolicy: its scope, the proxies holding it, what it does now."""
        found = self.fleet.policies([name]) if self.fleet is not None else []
        if not found:
            raise PolicyNotFound(
                f"there is no valid ResiliencePolicy named {name!r} being served; "
                "`breakwater policies` lists them"
            )
        return PolicyStatus.of(found[0])

    def policies(self) -> PoliciesResponse:
        state = self.controller.state
        reach = _Reach(state.effective, self.proxies())
        statuses = {
            status.name: PolicyStatus.of(replace(status, per_proxy=[]))
            for status in (self.fleet.policies() if self.fleet is not None else [])
        }
        routes = state.effective.gateway_api if state.effective is not None else None
        documents = []
        for doc in state.documents:
            document = reach.document(doc)
            if doc.kind == "ResiliencePolicy" and doc.name in statuses:
                document = document.model_copy(update={"status": statuses[doc.name]})
            route = routes.status_of(doc.kind, doc.name) if routes is not None else None
            if route is not None:
                document = document.model_copy(
                    update={"route_status": GatewayRouteStatus.of(route)}
                )
            documents.append(document)
        return PoliciesResponse(policies=documents)

    def routes(self) -> RoutesResponse:
        return route_statuses(self.controller)

    def explain(self, service: str) -> ExplainResponse:
        return explain_answer(self.controller, service)

    def get_weights(self, route: str, rule: int | str | None) -> Weights:
        return Weights.of(self.controller.get_weights(route, rule))

    async def set_weights(
        self,
        route: str,
        rule: int | str | None,
        weights: Mapping[str, int],
        expected_revision: int | None,
        who: str = "api",
    ) -> Weights:
        view = await self.controller.set_weights(
            route, rule, dict(weights), expected_revision, who=who
        )
        return Weights.of(view)

    async def reset_weights(
        self, route: str, rule: int | str | None, expected_revision: int | None, who: str = "api"
    ) -> Weights:
        return Weights.of(
            await self.controller.reset_weights(route, rule, expected_revision, who=who)
        )

    def endpoints(self, service: str) -> EndpointsResponse:
        views = self.controller.endpoints(service)
        return EndpointsResponse(service=service, endpoints=[ServiceEndpoint.of(v) for v in views])

    async def drain(
        self, service: str, endpoint: str, expected_revision: int | None, who: str = "api"
    ) -> ServiceEndpoint:
        view = await self.controller.drain(service, endpoint, expected_revision, who=who)
        return ServiceEndpoint.of(view)

    async def undrain(
        self, service: str, endpoint: str, expected_revision: int | None, who: str = "api"
    ) -> ServiceEndpoint:
        view = await self.controller.undrain(service, endpoint, expected_revision, who=who)
        return ServiceEndpoint.of(view)

    async def changes(self, route: str | None, limit: int) -> ChangesResponse:
        found = await self.controller.history.read(route=route, limit=limit)
        return ChangesResponse(events=[ChangeEntry.model_validate(c.to_json()) for c in found])


def _replicas(listed: Iterable[dict[str, Any]]) -> list[Replica]:
    """The registrations that fit the model; one another version wrote differently is left out
    rather than failing the whole status."""
    out = []
    for registration in listed:
        try:
            out.append(Replica.model_validate(registration))
        except ValidationError as exc:
            log.warning(
                "leaving replica %r out of status: its registration does not fit (%d errors: %s)",
                registration.get("id"),
                exc.error_count(),
                exc.errors()[0]["msg"],
            )
    return out


@dataclass(frozen=True)
class _ProxyGroup:
    """Connected proxies that serve the same gateways, and what those gateways reach."""

    node_ids: list[str]
    gateways: frozenset[str]
    routes: frozenset[str]
    services: frozenset[str]
    """The services the proxies get clusters for."""


class _Reach:
    """What the served PolicySet does with each document, read from the same graph the
    translators build snapshots from: the routes attached to a proxy's gateways, the backends
    they send to, and the clusters those need (failover targets included)."""

    def __init__(self, policyset: PolicySet | None, proxies: list[ProxyStatus]) -> None:
        self.policyset = policyset
        by_gateways: dict[frozenset[str], list[str]] = {}
        for proxy in proxies:
            by_gateways.setdefault(frozenset(proxy.gateways), []).append(proxy.node_id)
        self.groups: list[_ProxyGroup] = []
        if policyset is None:
            return
        policies = ClusterPolicies(policyset)
        for gateways, node_ids in by_gateways.items():
            routes = {
                route.name
                for gateway in gateways & set(policyset.gateways)
                for route in attached_routes(policyset, gateway)
            }
            clusters, _ = reachable_targets(
                policyset, backend_targets(policyset, gateways), policies
            )
            services = {service for service, _ in clusters}
            self.groups.append(
                _ProxyGroup(node_ids, gateways, frozenset(routes), frozenset(services))
            )

    def document(self, doc: DocumentStatus) -> PolicyDocument:
        services = self.services_of(doc.kind, doc.name) if doc.valid else []
        return PolicyDocument.of(doc, services, self.proxies_of(doc.kind, doc.name, services))

    def services_of(self, kind: str, name: str) -> list[str]:
        """The services a document shapes or sends traffic to."""
        policyset = self.policyset
        if policyset is None:
            return []
        if kind == "Service":
            return [name]
        if kind == "ResiliencePolicy":
            policy = policyset.policies.get(name)
            if policy is None:
                return []
            ref = policy.spec.target_ref
            targets = set(policyset.services) if ref is None else {ref.name}
            if policy.spec.failover is not None and policy.spec.failover.to is not None:
                targets.add(policy.spec.failover.to)
            return sorted(targets)
        if kind == "HTTPRoute":
            route = policyset.routes.get(name)
            return [] if route is None else sorted({s for s, _ in backends_of([route])})
        if kind == "Gateway":
            return sorted({s for s, _ in backend_targets(policyset, [name])})
        if kind == "Telemetry" and name in policyset.telemetry:
            return sorted(collector_services(policyset.telemetry[name].spec))
        return []

    def proxies_of(self, kind: str, name: str, services: list[str]) -> list[str]:
        """The connected proxies whose configuration a document is part of."""
        if kind == "Gateway":
            reached = [g for g in self.groups if name in g.gateways]
        elif kind == "Telemetry" and self.policyset is not None:
            gateways = set(telemetry_gateways(self.policyset, name))
            reached = [g for g in self.groups if gateways & g.gateways]
        elif kind == "HTTPRoute":
            reached = [g for g in self.groups if name in g.routes]
        else:
            wanted = set(services)
            reached = [g for g in self.groups if wanted & g.services]
        return sorted(node for group in reached for node in group.node_ids)
