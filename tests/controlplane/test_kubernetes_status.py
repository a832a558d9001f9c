"""The status each Kubernetes object should carry, computed without an API server.

The inputs are what the control plane has after a read (the policy set's Gateway API
state, every document's verdict) and the object as the API server would hold it (with
its generation and the status written last time); the output is the whole `status`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

import yaml

from breakwater.controlplane.kubernetes.objects import CONTROLLER_NAME
from breakwater.controlplane.kubernetes.source import ObjectReport, Served
from breakwater.controlplane.kubernetes.status import (
    StatusView,
    desired_status,
    foreign_gateways,
    same_status,
)
from breakwater.controlplane.rollouts.engine import Judgement
from breakwater.controlplane.rollouts.status import RolloutView
from breakwater.schema.crd_status import BreakwaterStatus
from breakwater.translators.gateway_api.status import GatewayApiState
from breakwater.translators.pipeline import LoadedPolicies, SourceText, policyset_from_texts

CLASS = f"""\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: breakwater, generation: 1}}
spec: {{controllerName: {CONTROLLER_NAME}}}
"""

POLICIES = """\
apiVersion: breakwater.dev/v1alpha1
kind: Service
metadata: {name: payments}
spec:
  endpoints: [{address: 10.0.0.1, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: default, generation: 2}
spec:
  gatewayClassName: breakwater
  listeners:
    - {name: http, port: 8080, protocol: HTTP}
    - {name: admin, port: 8080, protocol: HTTP, hostname: admin.example}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: default, generation: 3}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  rules:
    - backendRefs: [{name: payments, port: 80}]
    - backendRefs: [{name: missing, port: 80}]
"""

INVALID = """\
---
apiVersion: breakwater.dev/v1alpha1
kind: ResiliencePolicy
metadata: {name: careful, generation: 4}
spec:
  targetRef: {kind: Service, name: payments}
  retries: {attempts: 3}
"""

NOW = "2026-12-06T09:00:00Z"
LATER = "2026-12-06T09:05:00Z"


def read(text: str) -> LoadedPolicies:
    """What the pipeline makes of the objects (whose generation is the API server's, not
    part of a document)."""
    return policyset_from_texts(
        {"p.yaml": SourceText("p.yaml", re.sub(r", generation: \d+", "", text))}
    )


def view_of(text: str, now: str = NOW, **extra: Any) -> StatusView:
    loaded = read(text)
    state = loaded.policyset.gateway_api if loaded.policyset is not None else GatewayApiState()
    return StatusView(gateway_api=state, now=now, **extra)


def report_of(obj: dict[str, Any], text: str, served: Served = "current") -> ObjectReport:
    """The source's report on `obj` after reading `text` (the documents in it)."""
    meta = obj["metadata"]
    namespace = meta.get("namespace", "")
    document = f"{namespace}.{meta['name']}" if obj["kind"] != "ResiliencePolicy" else meta["name"]
    errors = tuple(e for e in read(text).errors if (e.kind, e.name) == (obj["kind"], document))
    return ObjectReport(
        path=f"{namespace}/{obj['kind']}/{meta['name']}",
        api_version=obj["apiVersion"],
        kind=obj["kind"],
        namespace=namespace,
        name=meta["name"],
        generation=meta.get("generation"),
        documents=(f"{obj['kind']}/{document}",),
        errors=errors,
        served="none" if errors and served == "current" else served,
    )


def objects(text: str) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def condition(conditions: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(c for c in conditions if c["type"] == kind)


def test_gateway_class_is_accepted_only_when_it_is_breakwaters() -> None:
    ours = yaml.safe_load(CLASS)
    status = desired_status(ours, None, view_of(POLICIES))
    assert status is not None
    accepted = condition(status["conditions"], "Accepted")
    assert (accepted["status"], accepted["observedGeneration"]) == ("True", 1)
    other = copy.deepcopy(ours)
    other["spec"]["controllerName"] = "example.com/other"
    assert desired_status(other, None, view_of(POLICIES)) is None


def test_gateway_accepted_programmed_and_attached_routes() -> None:
    gateway = objects(POLICIES)["Gateway"]
    view = view_of(POLICIES, proxies={"Gateway/default.edge": (2, 3)})
    status = desired_status(gateway, report_of(gateway, POLICIES), view)
    assert status is not None
    accepted = condition(status["conditions"], "Accepted")
    programmed = condition(status["conditions"], "Programmed")
    assert (accepted["status"], accepted["observedGeneration"]) == ("True", 2)
    assert programmed["status"] == "True"
    assert "applied on 2 of 3 proxies" in programmed["message"]
    listeners = {li["name"]: li for li in status["listeners"]}
    # The route names the `http` listener only.
    assert (listeners["http"]["attachedRoutes"], listeners["admin"]["attachedRoutes"]) == (1, 0)
    assert {k["kind"] for k in listeners["http"]["supportedKinds"]} == {"HTTPRoute", "GRPCRoute"}


def test_route_parents_accepted_and_a_missing_backend() -> None:
    route = objects(POLICIES)["HTTPRoute"]
    other = {
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "x"},
        "controllerName": "example.com/other",
        "conditions": [],
    }
    route["status"] = {"parents": [other]}
    status = desired_status(route, report_of(route, POLICIES), view_of(POLICIES))
    assert status is not None
    # Another controller's entry stays as it was.
    assert status["parents"][0] == other
    ours = status["parents"][1]
    assert ours["controllerName"] == CONTROLLER_NAME
    assert ours["parentRef"] == {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "namespace": "default",
        "name": "edge",
        "sectionName": "http",
    }
    accepted = condition(ours["conditions"], "Accepted")
    resolved = condition(ours["conditions"], "ResolvedRefs")
    assert (accepted["status"], accepted["reason"]) == ("True", "Accepted")
    assert (resolved["status"], resolved["reason"]) == ("False", "BackendNotFound")
    assert "'missing'" in resolved["message"]
    assert {c["observedGeneration"] for c in ours["conditions"]} == {3}

    # Written and computed again later: nothing to write, and the times stay.
    route["status"] = status
    again = desired_status(route, report_of(route, POLICIES), view_of(POLICIES, now=LATER))
    assert again is not None and same_status(route["status"], again)
    assert again == status

    # The missing Service appears: ResolvedRefs turns True, and only its time moves.
    fixed = POLICIES.replace("name: missing", "name: payments")
    changed = desired_status(route, report_of(route, fixed), view_of(fixed, now=LATER))
    assert changed is not None and not same_status(route["status"], changed)
    conditions = changed["parents"][1]["conditions"]
    assert condition(conditions, "ResolvedRefs")["status"] == "True"
    assert condition(conditions, "ResolvedRefs")["lastTransitionTime"] == LATER
    assert condition(conditions, "Accepted")["lastTransitionTime"] == NOW


def test_a_parent_of_another_controller_gets_no_entry_from_breakwater() -> None:
    route = objects(POLICIES)["HTTPRoute"]
    theirs = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
              "metadata": {"name": "istio", "namespace": "default"}}  # fmt: skip
    foreign = foreign_gateways([(theirs, None), (objects(POLICIES)["Gateway"], None)])
    assert foreign == {("default", "istio"), ("default", "edge")}
    view = replace(view_of(POLICIES), foreign_gateways=frozenset({("default", "istio")}))
    route["spec"]["parentRefs"] = [{"name": "istio"}]
    assert desired_status(route, report_of(route, POLICIES), view) is None
    route["spec"]["parentRefs"] = [{"name": "istio"}, {"name": "edge", "sectionName": "http"}]
    status = desired_status(route, report_of(route, POLICIES), view)
    assert status is not None
    assert [p["parentRef"]["name"] for p in status["parents"]] == ["edge"]


def test_an_invalid_breakwater_object_names_the_field_and_what_is_allowed() -> None:
    policy = objects(INVALID.lstrip("-\n"))["ResiliencePolicy"]
    status = desired_status(
        policy, report_of(policy, POLICIES + INVALID, "previous"), view_of(POLICIES + INVALID)
    )
    assert status is not None
    BreakwaterStatus.model_validate(status)  # the CRD's status schema is this model's
    accepted = condition(status["conditions"], "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "Invalid")
    assert "spec.retries" in accepted["message"] and "Allowed here:" in accepted["message"]
    assert "retry" in accepted["message"]
    assert "its last valid version keeps serving" in accepted["message"]
    assert status["observedGeneration"] == 4


def test_a_rollout_shows_its_phase_step_weight_and_last_analysis() -> None:
    text = """\
apiVersion: breakwater.dev/v1alpha1
kind: Rollout
metadata: {name: payments-canary, generation: 1}
spec: {}
"""
    rollout = yaml.safe_load(text)
    report = ObjectReport(
        "default/Rollout/payments-canary", "breakwater.dev/v1alpha1", "Rollout", "default",
        "payments-canary", 1, ("Rollout/payments-canary",), (), "current",
    )  # fmt: skip
    judgement = Judgement(1_796_000_000.0, "failed", "error rate 12% > 1%", 40, 12.0, 3.0, 0.0)
    progress = RolloutView(
        name="payments-canary", route="payments", rule=0, stable="stable", canary="canary",
        steps=3, phase="RolledBack", step=1, canary_weight=0, message="rolled back",
        last_analysis=judgement,
    )  # fmt: skip
    view = StatusView(
        rollouts={"payments-canary": progress},
        proxies={"Rollout/payments-canary": (1, 1)},
        now=NOW,
    )
    status = desired_status(rollout, report, view)
    assert status is not None
    BreakwaterStatus.model_validate(status)
    assert status["rollout"] == {
        "phase": "RolledBack",
        "step": 1,
        "steps": 3,
        "canaryWeight": 0,
        "message": "rolled back",
        "lastAnalysis": {
            "at": 1_796_000_000.0,
            "verdict": "failed",
            "reason": "error rate 12% > 1%",
            "canaryRequests": 40,
            "canaryErrorPercent": 12.0,
            "canaryLatencyMs": 3.0,
            "stableErrorPercent": 0.0,
        },
    }
    assert status["proxies"] == {"applied": 1, "total": 1}
