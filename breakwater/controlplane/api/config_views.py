"""The routes and explain answers, read from the policy set the controller serves.

Routes come from the served set (overrides laid over the YAML), so the weights
are the ones Envoy is sent; the revision and source are the ones a
compare-and-set write must name. Explain runs the same code as the offline
`breakwater explain`, on the set being served instead of a directory.
"""

from __future__ import annotations

from breakwater.controlplane.api.config_models import (
    ExplainedSettingStatus,
    ExplainResponse,
    ExplainSectionStatus,
    RouteRuleStatus,
    RoutesResponse,
    RouteStatus,
    RuleBackend,
)
from breakwater.controlplane.state.controller import NotReady, PolicyController, driving_rollout
from breakwater.translators.drains import EndpointNotFound
from breakwater.translators.explain.service import explain_service
from breakwater.translators.policyset import backend_label


class ServiceNotFound(EndpointNotFound):
    """No Service of that name is served (answered as the endpoints API answers one)."""


def route_statuses(controller: PolicyController) -> RoutesResponse:
    state = controller.state
    base, served = state.base, state.effective
    if base is None or served is None:
        return RoutesResponse(routes=[])
    routes = []
    for name in sorted(served.routes):
        route = served.routes[name]
        rules = []
        for index, rule in enumerate(route.spec.rules):
            override = state.overrides.get((name, index))
            source = state.weight_source(name, index)
            rules.append(
                RouteRuleStatus(
                    index=index,
                    name=rule.name,
                    backends=[
                        RuleBackend(
                            label=backend_label(b.service, b.subset),
                            service=b.service,
                            subset=b.subset,
                            weight=b.weight,
                        )
                        for b in rule.backends
                    ],
                    source=source,
                    revision=override.revision
                    if source == "override" and override is not None
                    else 0,
                    rollout=driving_rollout(base, controller.rollouts, name, index),
                )
            )
        routes.append(
            RouteStatus(
                name=name,
                gateways=list(route.spec.gateways),
                hostnames=list(route.spec.hostnames),
                rules=rules,
            )
        )
    return RoutesResponse(routes=routes)


def explain_answer(controller: PolicyController, service: str) -> ExplainResponse:
    served = controller.state.effective
    if served is None:
        raise NotReady("no valid policy set is loaded yet; fix the policy files and try again")
    if service not in served.services:
        known = ", ".join(sorted(served.services)) or "none"
        raise ServiceNotFound(f"Service {service!r} is not declared; declared services: {known}")
    return ExplainResponse(
        service=service,
        sections=[
            ExplainSectionStatus(
                title=section.title,
                settings=[
                    ExplainedSettingStatus.model_validate(setting, from_attributes=True)
                    for setting in section.settings
                ],
            )
            for section in explain_service(served, service)
        ],
    )
