"""deploy/examples run as a new user runs them, with traffic: no service fails, the collector
included.

`python -m tests.docs.examples_run WORKDIR` starts, in WORKDIR (a copy of
deploy/), what the Getting started page starts (the upstreams of
`--policies`, `breakwater serve`, one Envoy) on the examples' own ports,
sends requests through the edge gateway, and waits for `breakwater status`
to show every service the proxy sends to answering without 5xx, spans
reaching the collector's OTLP sink, and the example Rollout waiting at its
first step. It runs the steps with `doc_runner`, inside a network namespace
of its own (`test_quickstarts.py`); `--check` reads `status --output json`
on stdin and says what fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.docs.doc_runner import Step, run_page, server_logs

HEALTHY = "every service answers"
COLLECTOR = "otel-collector"

START = """
python -m breakwater.devtools.upstream --policies deploy/examples > upstreams.log 2>&1 &
breakwater serve -c deploy/examples > serve.log 2>&1 &
breakwater bootstrap --node-id edge-1 --node-cluster edge > bootstrap.yaml
envoy -c bootstrap.yaml > envoy.log 2>&1 &
"""
"""As the Getting started page starts them: in a block of their own (a block that goes on
to a foreground command would see Envoy stop with it)."""

FIRST_ANSWER = "curl -s --retry 20 --retry-connrefused --retry-delay 1 http://127.0.0.1:10000/"

TRAFFIC_THEN_STATUS = """
for i in $(seq 50); do
  curl -s -o /dev/null -H "x-user-id: user-$i" http://127.0.0.1:10000/
  curl -s -o /dev/null -H 'canary-user: true' http://127.0.0.1:10000/
done
breakwater status --output json | python -m tests.docs.examples_run --check
"""

STEPS = [
    Step(START, [], 1),
    Step(FIRST_ANSWER, ['"service": "payments"'], 2),
    Step(TRAFFIC_THEN_STATUS, [HEALTHY], 3),
    Step("grep -m1 'otlp otel-collector received spans' upstreams.log", [COLLECTOR], 4),
    Step("breakwater rollout status payments", ["phase Paused, step 1 of 6, canary 0 %"], 5),
]


def failing(status: dict[str, Any]) -> list[str]:
    """What keeps the examples from looking healthy, one sentence each; empty when they do."""
    services = status.get("services") or []
    problems = [
        f"{s['service']}|{s['subset']}: {s['error_percent']} % 5xx, "
        f"{s['hosts_healthy']}/{s['hosts']} hosts healthy"
        for s in services
        if (s.get("error_percent") or 0.0) > 0.0 or s.get("hosts_healthy") != s.get("hosts")
    ]
    collector = [s for s in services if s.get("service") == COLLECTOR]
    if not collector or not collector[0].get("requests_per_second"):
        problems.append(f"no request reached {COLLECTOR} yet")
    return problems


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        problems = failing(json.load(sys.stdin))
        print("\n".join(problems) if problems else HEALTHY)
        return 0
    problems = run_page(STEPS, Path(argv[0]))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(server_logs(Path(argv[0])), file=sys.stderr)
        return 1
    print(f"deploy/examples: {len(STEPS)} steps held")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
