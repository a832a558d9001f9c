"""The operations of Breakwater's API, shared by the HTTP admin port and the gRPC service.

Both front ends call these functions and only translate in and out, so a
status field or an error text is defined once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from breakwater.controlplane.fleet.service import FleetReports
from breakwater.controlplane.fleet.status import PolicyNotFound
from breakwater.controlplane.state.controller import PolicyController, RuleWeightsView
from breakwater.translators.policyset import PolicySet

ProxyLister = Callable[[], list[dict[str, Any]]]
"""Connected proxies as JSON-ready dicts (node_id, node_cluster, group, types: [...])."""


@dataclass
class ControlPlaneApi:
    controller: PolicyController
    proxies: ProxyLister
    config_version: Callable[[], str]
    replicas: Callable[[], list[dict[str, Any]]] | None = None
    """Every live control plane replica (id, addresses, versions served, proxies)."""
    store: Callable[[], dict[str, Any]] | None = None
    """Where the state lives and whether it answers."""
    fleet: FleetReports | None = None
    """What the proxies report: policy effects and service health."""

    def status(self) -> dict[str, Any]:
        state = self.controller.state
        return {
            "replicas": self.replicas() if self.replicas is not None else [],
            "store": self.store() if self.store is not None else {},
            "proxies": self.proxies(),
            "config_version": self.config_version(),
            "policy_version": state.policy_version,
            "state_revision": state.revision,
            "store_error": state.store_error,
            "load_errors": [str(e) for e in state.load_errors],
            "dropped_overrides": [
                {"route": d.route, "rule": d.rule, "weights": dict(d.weights), "reason": d.reason}
                for d in state.dropped
            ],
            "services": [h.model_dump() for h in self.fleet.services()] if self.fleet else [],
        }

    def policy(self, name: str) -> dict[str, Any]:
        """One ResiliencePolicy's status: scope, proxies holding it, live effect."""
        found = self.fleet.policies([name]) if self.fleet is not None else []
        if not found:
            raise PolicyNotFound(
                f"there is no valid ResiliencePolicy named {name!r} being served; "
                "`breakwater policies` lists them"
            )
        return found[0].model_dump()

    def policies(self) -> list[dict[str, Any]]:
        state = self.controller.state
        served = state.effective
        proxies = self.proxies()
        statuses = {
            status.name: status.model_dump(exclude={"per_proxy"})
            for status in (self.fleet.policies() if self.fleet is not None else [])
        }
        out = []
        for doc in state.documents:
            services = _services_of(served, doc.kind, doc.name) if doc.valid else []
            out.append(
                {
                    **asdict(doc),
                    "services": services,
                    "proxies": _proxies_of(served, doc.kind, doc.name, services, proxies),
                    "status": statuses.get(doc.name) if doc.kind == "ResiliencePolicy" else None,
                }
            )
        return out

    def get_weights(self, route: str, rule: int | None) -> dict[str, Any]:
        return weights_dict(self.controller.get_weights(route, rule))

    async def set_weights(
        self,
        route: str,
        rule: int | None,
        weights: Mapping[str, int],
        expected_revision: int | None,
    ) -> dict[str, Any]:
        view = await self.controller.set_weights(route, rule, dict(weights), expected_revision)
        return weights_dict(view)

    async def reset_weights(
        self, route: str, rule: int | None, expected_revision: int | None
    ) -> dict[str, Any]:
        return weights_dict(await self.controller.reset_weights(route, rule, expected_revision))


def weights_dict(view: RuleWeightsView) -> dict[str, Any]:
    return asdict(view)


def _services_of(policyset: PolicySet | None, kind: str, name: str) -> list[str]:
    """The services a document shapes or sends traffic to."""
    if policyset is None:
        return []
    if kind == "Service":
        return [name]
    if kind == "ResiliencePolicy":
        policy = policyset.policies.get(name)
        if policy is None:
            return []
        ref = policy.spec.target_ref
        targets = sorted(policyset.services) if ref is None else [ref.name]
        if policy.spec.failover is not None:
            targets.append(policy.spec.failover.to)
        return sorted(set(targets))
    if kind == "HTTPRoute":
        route = policyset.routes.get(name)
        if route is None:
            return []
        return sorted({b.service for rule in route.spec.rules for b in rule.backends})
    if kind == "Gateway":
        return sorted(
            {
                b.service
                for route in policyset.routes.values()
                if name in route.spec.gateways
                for rule in route.spec.rules
                for b in rule.backends
            }
        )
    return []


def _proxies_of(
    policyset: PolicySet | None,
    kind: str,
    name: str,
    services: list[str],
    proxies: list[dict[str, Any]],
) -> list[str]:
    """The connected proxies whose configuration a document affects."""
    if policyset is None:
        return []
    reached: set[str] = set()
    for gateway_name in policyset.gateways:
        if kind == "Gateway" and gateway_name != name:
            continue
        routes = [r for r in policyset.routes.values() if gateway_name in r.spec.gateways]
        if kind == "HTTPRoute":
            routes = [r for r in routes if r.name == name]
        elif kind != "Gateway":
            routes = [
                r
                for r in routes
                if any(b.service in services for rule in r.spec.rules for b in rule.backends)
            ]
        if routes:
            reached.add(gateway_name)
    return sorted(p["node_id"] for p in proxies if reached.intersection(p.get("gateways", [])))
