"""Rollouts, for real: a real Envoy, real upstreams, the fleet's own numbers reported by that
Envoy every second, and analysis intervals of two seconds."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any

from breakwater.devtools.prometheus import metric, metrics_text
from tests.e2e.mesh import Mesh, payments_split, resilience_policy
from tests.support.policies import rollout_document

FLUSH = 1.0

SERVICE_AND_ROUTE = payments_split({"stable": 100, "canary": 0})


QUICK_ANALYSIS = """\
  analysis:
    interval: 2s
    minRequests: 10
    failureLimit: 1
    successRate: {min: 95}
"""


def rollout(steps: str, analysis: str = "") -> str:
    return SERVICE_AND_ROUTE + rollout_document(steps, QUICK_ANALYSIS + analysis)


def status(mesh: Mesh) -> dict[str, Any]:
    answer: dict[str, Any] = mesh.admin_api("GET", "/v1/rollouts/payments")
    return answer


def wait_phase(mesh: Mesh, phase: str, timeout: float) -> dict[str, Any]:
    def reached() -> dict[str, Any]:
        current = status(mesh)
        return current if current["phase"] == phase else {}

    try:
        return mesh.wait_for(reached, timeout, f"the rollout to be {phase}", interval=0.1)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{status(mesh)}") from None


def canary_weight_in_envoy(mesh: Mesh) -> int | None:
    action = mesh.route_action("payments/0/0")
    if action is None:
        return None
    for cluster in action.get("weighted_clusters", {}).get("clusters", []):
        if cluster["name"] == "payments|canary":
            return int(cluster.get("weight", 0))
    return None


def start(mesh: Mesh, policies: str, **canary: Any) -> None:
    mesh.upstream("stable", service="payments", subset="stable")
    mesh.upstream("canary", service="payments", subset="canary", **canary)
    mesh.start(policies, report_interval=FLUSH)


def test_a_healthy_canary_is_promoted_through_every_step_each_after_the_proxy_acked(
    mesh: Mesh,
) -> None:
    start(mesh, rollout("    - setWeight: 20\n    - setWeight: 50\n    - setWeight: 100\n"))
    with mesh.continuous(rate=60, max_duration=60) as traffic:
        done = wait_phase(mesh, "Promoted", 40.0)
        result = traffic.snapshot()
    assert canary_weight_in_envoy(mesh) == 100
    messages = [e["message"] for e in done["history"]]
    for step in range(3):
        applied = messages.index(f"step {step} holds on every proxy")
        assert any(m.startswith(f"step {step}: canary weight") for m in messages[:applied])
        if step < 2:
            assert (
                messages.index(next(m for m in messages if m.startswith(f"step {step + 1}:")))
                > applied
            )
    assert result.server_errors == 0, result.summary()
    manual = mesh.admin_api("GET", "/v1/routes/payments/weights?rule=0")
    assert manual["weights"] == {"stable": 0, "canary": 100}


def test_a_canary_that_starts_failing_is_rolled_back_within_one_interval_plus_the_ack(
    mesh: Mesh,
) -> None:
    start(
        mesh,
        rollout(
            "    - setWeight: 10\n    - setWeight: 40\n    - pause: {}\n    - setWeight: 100\n"
        ),
    )
    canary = mesh.upstreams["canary"]
    with mesh.continuous(rate=80, max_duration=60) as traffic:
        mesh.wait_for(lambda: status(mesh)["step"] == 1, 20.0, "the second step")
        canary.configure(fail_fraction=0.3, seed=5)
        broke_at = time.monotonic()
        rolled = wait_phase(mesh, "RolledBack", 15.0)
        took = time.monotonic() - broke_at
        mesh.wait_for(
            lambda: canary_weight_in_envoy(mesh) == 0, 5.0, "Envoy to send nothing to the canary"
        )
        time.sleep(0.5)
        result = traffic.stop()
    # One analysis interval (2 s) after the step held, plus a flush and the ACK.
    assert took < 2.0 + FLUSH + 3.0, (took, rolled["history"])
    assert "success rate" in rolled["message"] and "below 95 %" in rolled["message"], rolled
    failed = result.by_status[500] + result.server_errors
    print(f"requests failed in all: {failed} of {result.total}")
    # 30 % of 40 % of 80 requests/s for at most the time the rollback took.
    assert failed <= 0.3 * 0.4 * 80 * (took + 1.0), (failed, took, result.summary())


def test_a_slow_canary_fails_the_latency_gate_and_is_rolled_back(mesh: Mesh) -> None:
    start(
        mesh,
        rollout(
            "    - setWeight: 50\n    - setWeight: 100\n",
            "    latency: {percentile: 99, max: 100ms}\n",
        ),
        latency=0.3,
    )
    with mesh.continuous(rate=40, max_duration=40):
        rolled = wait_phase(mesh, "RolledBack", 20.0)
    assert "p99 latency" in rolled["message"] and "over 100 ms" in rolled["message"], rolled
    mesh.wait_for(lambda: canary_weight_in_envoy(mesh) == 0, 5.0, "Envoy to drop the canary")


def test_a_canary_without_traffic_stays_inconclusive_and_does_not_advance(mesh: Mesh) -> None:
    start(mesh, rollout("    - setWeight: 10\n    - setWeight: 100\n"))
    mesh.wait_for(lambda: status(mesh)["last_analysis"] is not None, 15.0, "an analysis")
    time.sleep(5.0)  # two more intervals of silence
    current = status(mesh)
    assert (current["phase"], current["step"]) == ("Progressing", 0), current
    assert current["last_analysis"]["verdict"] == "inconclusive", current
    assert "fewer than minRequests 10" in current["last_analysis"]["reason"]


def test_pause_waits_for_promote_and_abort_returns_everything_to_stable(mesh: Mesh) -> None:
    start(mesh, rollout("    - setWeight: 30\n    - pause: {}\n    - setWeight: 100\n"))
    with mesh.continuous(rate=40, max_duration=60):
        paused = wait_phase(mesh, "Paused", 20.0)
        assert paused["step"] == 1
        time.sleep(3.0)
        assert status(mesh)["phase"] == "Paused", "an open pause waits, whatever the numbers"

        refused = mesh.admin_api_raw(
            "PUT", "/v1/routes/payments/weights", {"weights": {"stable": 50, "canary": 50}}
        )
        assert refused.status == 409, refused.text
        assert "Rollout 'payments' drives the weights" in refused.text

        promoted = mesh.admin_api("POST", "/v1/rollouts/payments/promote")
        assert (promoted["step"], promoted["canary_weight"]) == (2, 100)
        mesh.wait_for(
            lambda: canary_weight_in_envoy(mesh) == 100, 5.0, "Envoy to take the promotion"
        )

        aborted = mesh.admin_api("POST", "/v1/rollouts/payments/abort")
        assert (aborted["phase"], aborted["canary_weight"]) == ("Aborted", 0)
        mesh.wait_for(lambda: canary_weight_in_envoy(mesh) == 0, 3.0, "all traffic back on stable")
    after = mesh.send(50)
    assert after.by_subset == {"stable": 50}, after.summary()


def test_the_header_stage_sends_marked_requests_to_the_canary_while_its_weight_is_0(
    mesh: Mesh,
) -> None:
    start(
        mesh,
        rollout(
            '    - setHeaderRoute: {headers: [{name: canary-user, value: "true"}]}\n'
            "    - pause: {}\n"
            "    - setWeight: 100\n"
        ),
    )
    mesh.wait_for(
        lambda: mesh.route_action("payments/0/0/preview") is not None, 10.0, "the header route"
    )
    marked = mesh.send(40, headers={"canary-user": "true"})
    unmarked = mesh.send(40)
    assert marked.by_subset == {"canary": 40}, marked.summary()
    assert unmarked.by_subset == {"stable": 40}, unmarked.summary()
    assert canary_weight_in_envoy(mesh) == 0


class Hooks:
    """A real webhook receiver on loopback: answers each kind with the status set for it."""

    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        self.calls: list[dict[str, Any]] = []
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hooks.calls.append(body)
                code = hooks.status.get(body["type"], 200)
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [c["type"] for c in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_gate_the_promotion_hear_every_event_and_can_ask_for_a_rollback(
    mesh: Mesh,
) -> None:
    hooks = Hooks()
    hooks.status["confirm-promotion"] = 503
    try:
        webhooks = (
            "  webhooks:\n"
            f"    - {{type: confirm-promotion, url: '{hooks.url}/confirm', timeout: 1s}}\n"
            f"    - {{type: event, url: '{hooks.url}/event', timeout: 1s}}\n"
        )
        start(mesh, rollout("    - setWeight: 30\n    - setWeight: 100\n") + webhooks)
        with mesh.continuous(rate=40, max_duration=60):

            def holding() -> dict[str, Any]:
                current = status(mesh)
                return current if "confirm-promotion" in current["message"] else {}

            held = mesh.wait_for(holding, 20.0, "the promotion to wait for its webhook")
            assert (held["step"], held["canary_weight"]) == (0, 30), held
            assert "answered 503" in held["message"], held
            time.sleep(3.0)
            assert status(mesh)["step"] == 0, "no promotion while the webhook says no"
            hooks.status["confirm-promotion"] = 200
            wait_phase(mesh, "Promoted", 15.0)
        # The Promoted event is posted after the phase changed: wait for it to arrive.
        mesh.wait_for(
            lambda: [c for c in hooks.calls if c["type"] == "event"][-1]["phase"] == "Promoted",
            5.0,
            "the Promoted event",
        )
        events = [c for c in hooks.calls if c["type"] == "event"]
        assert any("holds on every proxy" in e["message"] for e in events), events

        refused = mesh.admin_api_raw("POST", "/v1/rollouts/payments/retry")
        assert refused.status == 409 and "Promoted" in refused.text, refused.text
    finally:
        hooks.close()


def test_the_rollout_metrics_follow_its_progress(mesh: Mesh) -> None:
    start(mesh, rollout("    - setWeight: 50\n    - setWeight: 100\n"))
    with mesh.continuous(rate=40, max_duration=40):
        wait_phase(mesh, "Promoted", 30.0)
    assert mesh.control_plane is not None
    text = metrics_text(mesh.control_plane.admin_url)
    assert metric(text, "breakwater_rollout_phase", rollout="payments", phase="Promoted") == 1
    assert metric(text, "breakwater_rollout_phase", rollout="payments", phase="Progressing") == 0
    assert metric(text, "breakwater_rollout_canary_weight", rollout="payments") == 100
    assert metric(text, "breakwater_rollout_step", rollout="payments") == 2
    passed = metric(text, "breakwater_rollout_analysis_total", rollout="payments", result="passed")
    assert passed is not None and passed >= 2


def test_a_step_that_changes_no_weight_still_counts_and_a_canary_with_failover_is_judged(
    mesh: Mesh,
) -> None:
    """The YAML already sends 10 % to the canary, so the first step changes no config; and the
    canary fails over to stable, so Envoy counts its responses on the failover cluster."""
    policies = (
        payments_split({"stable": 90, "canary": 10})
        + resilience_policy(
            "canary-failover", "  failover: {to: payments, subset: stable}\n"
        ).replace("{name: payments}", "{name: payments, subset: canary}")
        + rollout_document("    - setWeight: 10\n    - setWeight: 100\n", QUICK_ANALYSIS)
    )
    start(mesh, policies)
    with mesh.continuous(rate=60, max_duration=40):
        done = wait_phase(mesh, "Promoted", 25.0)
    messages = [e["message"] for e in done["history"]]
    assert "step 0 holds on every proxy" in messages, messages
    assert done["last_analysis"]["verdict"] == "passed", done
