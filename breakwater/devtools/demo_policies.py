"""What `make demo` serves: a copy of deploy/examples, on the ports it was given, and its Rollout.

Apart from the demo's story (`demo.py`) because the tests check these files on
their own: they must be a valid policy set carrying the Rollout the story
tells. The ports the examples name live here too, with what each is for, so
that a taken one is said in one sentence before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from breakwater.controlplane.listen import in_use
from breakwater.defaults import ADMIN_PORT, ENVOY_ADMIN_PORT, XDS_PORT
from breakwater.devtools.ports import LOOPBACK
from breakwater.translators.rollout_model import Rollout
from breakwater.translators.yaml_reader import read_documents

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
GATEWAY = "edge"
GATEWAY_PORT = 10000
"""The edge gateway's port in deploy/examples."""
UPSTREAMS = (("stable", 18081), ("canary", 18082))
"""Subset and port of each payments instance, as deploy/examples declares them."""
COLLECTOR_PORT = 4317
"""The port of the examples' OpenTelemetry collector (deploy/examples/telemetry.yaml)."""
ROLLOUT = "payments"
REPORT_SECONDS = 1.0
"""How often Envoy flushes its stats and load reports: the analysis judges what they say."""
STEPS = (20, 30, 50, 100)
"""The canary's weight steps. The first is not the examples' own 10 %: a step that leaves the
route's configuration as it is brings no new push for the proxies to acknowledge, so the
rollout would wait at it."""


@dataclass(frozen=True)
class Pace:
    """How fast the story is told; the steps and the break are the same at every pace."""

    analysis_interval: float
    """Seconds between judgements; each step lasts at least one."""
    pause: float
    """Seconds of each pause step after a weight step."""
    min_requests: int
    """Canary responses an interval needs to be judged at all."""
    requests: int
    """Requests per round; with the interval, enough for `min_requests` at the first step."""
    round_interval: float
    after_rollback: int
    """Rounds drawn once every proxy took the rollback, to show the split back on stable."""
    deadline: float
    """Seconds the rollout may take to roll back before the demo gives up and says so."""


NORMAL = Pace(3.0, 3.0, 20, 400, 1.0, 3, 90.0)
FAST = Pace(2.0, 1.0, 10, 200, 0.3, 2, 60.0)


def rollout_document(pace: Pace) -> str:
    """The Rollout the demo applies: short steps, so the whole walk fits in a minute."""
    pause = f"    - pause: {{duration: {round(pace.pause * 1000)}ms}}\n"
    steps = pause.join(f"    - setWeight: {weight}\n" for weight in STEPS)
    return (
        "apiVersion: breakwater.dev/v1alpha1\n"
        "kind: Rollout\n"
        f"metadata: {{name: {ROLLOUT}}}\n"
        "spec:\n"
        "  routeRef: {name: payments, rule: split}\n"
        "  stable: stable\n"
        "  canary: canary\n"
        "  steps:\n"
        f"{steps}"
        "  analysis:\n"
        f"    interval: {round(pace.analysis_interval * 1000)}ms\n"
        f"    minRequests: {pace.min_requests}\n"
        "    failureLimit: 1\n"
        "    successRate: {min: 95}\n"
    )


def write_policies(target: Path, ports: dict[int, int], pace: Pace) -> None:
    """The examples as the demo runs them, with the demo's Rollout, into `target`.

    A copy, so that deploy/examples (which the golden tests read) stays as it
    is. Three things differ: the upstream and gateway ports are replaced by
    `ports` (free ones when the fixed ones are taken), the examples' own
    Rollouts are left out (the demo's drives the same rule, faster, and two
    Rollouts of one rule are refused), and no policy fails over. The examples' canary fails over to the fallback service once its
    only host is ejected, and the analysis judges what the canary's traffic
    got: the fallback's answers would hide the broken canary the demo wants
    the rollout to catch.
    """
    for source in sorted(EXAMPLES.glob("*.yaml")):
        # Read as `serve` reads them: PyYAML's own loader would turn a key such as
        # `fallback.on` into `true`, and the copy would no longer be the examples.
        raws, _ = read_documents(source.read_text(), str(source))
        documents = [
            raw.data for raw in raws if raw.data is not None and raw.data.get("kind") != "Rollout"
        ]
        if not documents:
            continue
        for document in documents:
            spec = document.get("spec", {})
            if document.get("kind") == "Service":
                for endpoint in spec.get("endpoints", []):
                    endpoint["port"] = ports.get(endpoint["port"], endpoint["port"])
            elif document.get("kind") == "Gateway" and "port" in spec:
                spec["port"] = ports.get(spec["port"], spec["port"])
            elif document.get("kind") == "ResiliencePolicy":
                spec.pop("failover", None)
        (target / source.name).write_text(yaml.safe_dump_all(documents, sort_keys=False))
    (target / "demo-rollout.yaml").write_text(rollout_document(pace))


def step_names(pace: Pace) -> list[str]:
    """Each step of the Rollout as the control plane plans it, to name it on screen.

    Numbered from 0 on screen, as the rollout's own events number them.
    """
    plan = Rollout.model_validate(yaml.safe_load(rollout_document(pace))).spec.plan()
    return [
        f"setWeight {step.set_weight}" if step.set_weight is not None else f"pause {pace.pause:g} s"
        for step in plan
    ]


FIXED_PORTS = {
    XDS_PORT: "the control plane's xDS port",
    ADMIN_PORT: "the control plane's admin API",
    GATEWAY_PORT: "the edge gateway's port",
    ENVOY_ADMIN_PORT: "Envoy's admin port",
    **{port: f"the payments {subset} upstream's port" for subset, port in UPSTREAMS},
    COLLECTOR_PORT: "the examples' OpenTelemetry collector",
}
"""The ports the demo uses unless `--free-ports`, and what each is for."""
FREE_PORTS_HINT = "`make demo DEMO_ARGS=--free-ports` (or `--free-ports`)"


def taken_port() -> str | None:
    """A sentence about the first of the demo's fixed ports that another program holds."""
    for port, role in FIXED_PORTS.items():
        if in_use(LOOPBACK, port):
            return (
                f"port {port} ({role}) is in use by another program: stop it, or run the demo "
                f"on free ports with {FREE_PORTS_HINT}"
            )
    return None
