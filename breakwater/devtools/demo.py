"""`make demo`: a canary Rollout on a real Envoy, advancing step by step, then rolled back.

Runs a copy of the examples in deploy/examples (without the canary's
failover, see `write_policies`) plus one Rollout on the payments route's
`split` rule: setWeight 20, 30, 50 and then 100, a short pause after each,
the canary judged every few seconds on its success rate. The payments
service's stable and canary instances run on their loopback ports, the edge
gateway on 127.0.0.1:10000, and Envoy reports its numbers to the control
plane every second, so each analysis judges the traffic of its own interval.

Every round sends requests through Envoy, each from a different user (the
route is sticky on `x-user-id`), draws the split as Envoy served it, and
reads the rollout from GET /v1/rollouts/payments, the answer
`breakwater rollout status` prints. Once the canary holds 50 %, the demo
makes it answer 40 % of its requests with a 503; the next analysis fails the
success-rate gate, the rollout rolls back on its own, and the bars go back
to all-stable, about half a minute after it started.

Then it is the user's turn: the traffic goes on, and single keys break or
fix the canary and promote, pause, abort or retry the rollout (see
`demo_keys`), until `q` or Ctrl-C stops everything. A key pressed during the
story ends the story there. `--once` stops after the story, with the
rollout's history (its test uses it, with `--fast`, which tells the same
story quicker); `--free-ports` runs it beside another one.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from breakwater.cli.tables import format_rollout
from breakwater.client import ApiError, call, read_answer
from breakwater.controlplane.api.rollout_models import RolloutStatus
from breakwater.controlplane.bootstrap import render_bootstrap
from breakwater.controlplane.fleet.contract import FleetOptions
from breakwater.defaults import ADMIN_PORT, ENVOY_ADMIN_PORT, HOST, XDS_PORT
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.demo_keys import (
    STOPPING,
    Action,
    KeyReader,
    Stop,
    menu,
    reminder,
    stop_if_asked,
    stop_on_signals,
)
from breakwater.devtools.demo_policies import (
    COLLECTOR_PORT,
    EXAMPLES,
    FAST,
    FREE_PORTS_HINT,
    GATEWAY,
    GATEWAY_PORT,
    NORMAL,
    REPORT_SECONDS,
    ROLLOUT,
    UPSTREAMS,
    Pace,
    step_names,
    taken_port,
    write_policies,
)
from breakwater.devtools.envoy import EnvoyProcess
from breakwater.devtools.otlp import OtlpReceiver
from breakwater.devtools.ports import LOOPBACK, free_port
from breakwater.devtools.traffic import send_requests
from breakwater.devtools.upstream import UpstreamServer

BAR_WIDTH = 30
BREAK_AT = 50
"""The canary weight at which the demo breaks the canary."""
FAIL_FRACTION = 0.4
REMIND_EVERY = 8
"""Rounds between two one-line reminders of the keys, once it is the user's turn."""


@dataclass(frozen=True)
class Round:
    """One round as drawn: who answered, and the rollout as the API said right after."""

    number: int
    shares: dict[str, float]
    """Subset → share of the answered requests."""
    ok: int
    total: int
    rollout: RolloutStatus


@dataclass
class Outcome:
    """What the demo showed, for its test: exit code, every round, the rollout at the end."""

    code: int = 1
    rounds: list[Round] = field(default_factory=list)
    broke_at_round: int | None = None
    collector_exports: int = 0
    """Exports (traces, access logs) Envoy sent to the examples' collector."""
    rollout: RolloutStatus | None = None


def _bar(share: float) -> str:
    filled = round(share * BAR_WIDTH)
    return "█" * filled + "·" * (BAR_WIDTH - filled)


def _step_name(status: RolloutStatus, steps: list[str]) -> str:
    if status.step >= len(steps):
        return "all done"
    return f"{status.step} {steps[status.step]}"


def _status_line(status: RolloutStatus, steps: list[str]) -> str:
    parts = [
        f"rollout {status.phase:<11}",
        f"step {_step_name(status, steps):<14}",
        f"canary {status.canary_weight:3d} %"
        + (" (not yet on every proxy)" if status.awaiting_ack else ""),
    ]
    analysis = status.last_analysis
    parts.append(f"analysis {analysis.verdict}: {analysis.reason}" if analysis else "analysis -")
    return "           " + "  ".join(parts)


class Demo:
    """The servers and the story; `run` draws rounds until the rollback shows or time is up."""

    def __init__(self, pace: Pace, policy_dir: Path, state_dir: Path, *, fixed_ports: bool) -> None:
        self.pace = pace
        self.policy_dir = policy_dir
        self.state_dir = state_dir
        self.fixed_ports = fixed_ports
        self.upstreams = {
            subset: UpstreamServer(
                service="payments",
                subset=subset,
                instance=f"payments-{subset}",
                port=port if fixed_ports else 0,
            )
            for subset, port in UPSTREAMS
        }
        self.collector = OtlpReceiver(LOOPBACK, COLLECTOR_PORT if fixed_ports else 0, keep=False)
        """Where Envoy's traces and OpenTelemetry access logs go, as the examples say."""
        self.plane: ControlPlaneThread | None = None
        self.envoy: EnvoyProcess | None = None
        self.gateway_url = ""
        self.outcome = Outcome()
        self._canary_seen = (0, 0)
        self._events_shown = 0
        self._steps = step_names(pace)
        self._took_over = False
        """Whether the user pressed a key: the story then leaves the canary to them."""

    # --- the servers --------------------------------------------------------------

    def start(self) -> None:
        for upstream in self.upstreams.values():
            upstream.start()
        self.collector.start()
        gateway_port = GATEWAY_PORT if self.fixed_ports else free_port()
        examples_ports = {port: self.upstreams[subset].port for subset, port in UPSTREAMS}
        write_policies(
            self.policy_dir,
            {GATEWAY_PORT: gateway_port, COLLECTOR_PORT: self.collector.port, **examples_ports},
            self.pace,
        )
        self.plane = ControlPlaneThread(
            self.policy_dir,
            self.state_dir,
            xds_port=XDS_PORT if self.fixed_ports else 0,
            admin_port=ADMIN_PORT if self.fixed_ports else 0,
            fleet=FleetOptions(load_report_interval=REPORT_SECONDS),
        )
        self.plane.start()
        envoy_admin = ENVOY_ADMIN_PORT if self.fixed_ports else free_port()
        self.envoy = EnvoyProcess(
            render_bootstrap(
                "demo-edge-1",
                "edge",
                [(HOST, self.plane.xds_port)],
                envoy_admin,
                stats_flush_interval=f"{REPORT_SECONDS:g}s",
            ),
            log_level="warning",
        )
        self.envoy.start()
        self.envoy.wait_for(
            lambda: (
                "payments|canary" in self.envoy_names("clusters")
                and GATEWAY in self.envoy_names("listeners")
            ),
            10,
            "the payments clusters and the edge listener",
        )
        self.gateway_url = f"http://{HOST}:{gateway_port}"
        print(
            f"Breakwater is serving a copy of {EXAMPLES} (without the canary's failover)\n"
            f"and a Rollout, from {self.policy_dir}\n"
            f"  xDS and gRPC API  {HOST}:{self.plane.xds_port}\n"
            f"  admin API         {self.admin_url}\n"
            f"  Envoy             {self.gateway_url}  (admin http://{HOST}:{envoy_admin})\n"
            "  upstreams         "
            + ", ".join(f"{subset} :{u.port}" for subset, u in self.upstreams.items())
            + f"\n  collector         :{self.collector.port} (Envoy's traces and access logs)"
            + "\n\n"
            f"Rollout `{ROLLOUT}` moves route payments' split rule from stable to canary:\n"
            "  steps "
            + ", ".join(f"{number} {name}" for number, name in enumerate(self._steps))
            + "\n"
            f"  analysis every {self.pace.analysis_interval:g} s: success rate at least 95 % "
            f"over at least {self.pace.min_requests} canary requests, else roll back.\n"
            f"At {BREAK_AT} % the demo breaks the canary on purpose. Follow it from another terminal:\n"
            f"  .venv/bin/breakwater rollout status {ROLLOUT} --server {self.admin_url}\n"
            f"or in a browser, on the console: {self.admin_url}/#rollouts\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )

    def envoy_names(self, kind: str) -> set[str]:
        assert self.envoy is not None
        return self.envoy.dynamic_names(kind)

    @property
    def admin_url(self) -> str:
        assert self.plane is not None
        return self.plane.admin_url

    def stop(self) -> None:
        """Envoy first, so that no request is in flight to an upstream that is gone."""
        if self.envoy is not None:
            self.envoy.stop()
            self.envoy.cleanup()
        self.outcome.collector_exports = self.collector.exports
        self.collector.stop()
        if self.plane is not None:
            self.plane.stop()
        for upstream in self.upstreams.values():
            upstream.stop()

    # --- the story ----------------------------------------------------------------

    def rollout(self) -> RolloutStatus:
        return read_answer(RolloutStatus, call(self.admin_url, "rollout", {"name": ROLLOUT}))

    def run(self, keys: KeyReader | None = None) -> Outcome:
        """The story, then (with `keys`) the user's turn until they quit."""
        told = self._tell_story(keys)
        if keys is None:
            self.outcome.code = 0 if told else 1
            return self.outcome
        self._play(keys)
        self.outcome.code = 0
        return self.outcome

    def _tell_story(self, keys: KeyReader | None) -> bool:
        """Rounds until the rollback shows; False when the rollout did something else.

        With `keys`, a key pressed meanwhile ends the story there (True): the user took over.
        """
        deadline = time.monotonic() + self.pace.deadline
        rolled_back_rounds = 0
        for number in itertools.count(1):
            status = self._round(number)
            stop_if_asked()
            if status.phase in ("Promoted", "Aborted", "Paused"):
                print(f"\nthe rollout ended up {status.phase}, not rolled back: {status.message}")
                return False
            if status.phase == "RolledBack" and not status.awaiting_ack:
                if rolled_back_rounds == 0:
                    self._say_rolled_back(status)
                rolled_back_rounds += 1
                if rolled_back_rounds > self.pace.after_rollback:
                    break
            elif self.outcome.broke_at_round is None and self._ready_to_break(status):
                self._break_canary(number)
            if time.monotonic() > deadline:
                print(
                    f"\nthe rollout did not roll back within {self.pace.deadline:g} s; "
                    f"it is {status.phase} at step {status.step}: {status.message}"
                )
                return False
            if keys is None:
                STOPPING.wait(self.pace.round_interval)
                stop_if_asked()
                continue
            action = keys.wait(self.pace.round_interval)
            stop_if_asked()
            if action is not None:
                print("\n>>> You took over: the story stops here.", flush=True)
                self._took_over = True
                self._act(action)
                return True
        print(f"\n$ breakwater rollout status {ROLLOUT}")
        print(format_rollout(call(self.admin_url, "rollout", {"name": ROLLOUT})), flush=True)
        return True

    def _play(self, keys: KeyReader) -> None:
        """Rounds of traffic, a key acted on between them, until `q` (or Ctrl-C)."""
        print(
            "\nYour turn. The traffic goes on; press a key (no Enter needed):\n"
            f"{menu()}\n"
            f"The console shows the same rollout: {self.admin_url}/#rollouts\n",
            flush=True,
        )
        number = len(self.outcome.rounds)
        while True:
            action = keys.wait(self.pace.round_interval)
            stop_if_asked()
            if action == "quit":
                return
            if action is not None:
                self._took_over = True
                self._act(action)
            number += 1
            self._round(number)
            stop_if_asked()
            if number % REMIND_EVERY == 0:
                print(reminder(), flush=True)

    def _act(self, action: Action) -> None:
        """What a key does, said on screen; a command the rollout refuses says why."""
        if action == "break":
            self.upstreams["canary"].configure(fail_fraction=FAIL_FRACTION)
            print(f">>> the canary now answers {FAIL_FRACTION * 100:g} % of its requests with 503")
            return
        if action == "fix":
            self.upstreams["canary"].configure(fail_fraction=0.0)
            print(">>> the canary is fixed: it answers every request")
            return
        command: str = action
        if action == "pause" and self.rollout().phase == "Paused":
            command = "resume"
        try:
            answer = call(self.admin_url, "rollout_command", {"name": ROLLOUT, "command": command})
        except ApiError as exc:
            print(f">>> {command}: refused: {exc}", flush=True)
            return
        status = read_answer(RolloutStatus, answer)
        print(f">>> {command}: the rollout is {status.phase}: {status.message}", flush=True)

    def _ready_to_break(self, status: RolloutStatus) -> bool:
        return (
            not self._took_over
            and status.phase == "Progressing"
            and status.canary_weight >= BREAK_AT
            and not status.awaiting_ack
        )

    def _break_canary(self, number: int) -> None:
        self.upstreams["canary"].configure(fail_fraction=FAIL_FRACTION)
        self.outcome.broke_at_round = number
        print(
            f"\n>>> The canary holds {BREAK_AT} %. Breaking it on purpose: from now on it answers "
            f"{FAIL_FRACTION * 100:g} % of its requests with 503.\n"
            ">>> Users sent to the canary start to see errors (Envoy's retries and the canary's "
            "circuit breaker only soften it);\n"
            ">>> the next analysis judges the canary's numbers as Envoy reported them.\n",
            flush=True,
        )

    def _say_rolled_back(self, status: RolloutStatus) -> None:
        analysis = status.last_analysis
        if analysis is None or analysis.verdict != "failed":
            print(f"\n<<< RolledBack: {status.message}\n", flush=True)
            return
        print(
            f"\n<<< RolledBack: the successRate gate (min 95 %) failed: {analysis.reason}\n"
            f"<<< that interval: {analysis.canary_requests} canary requests, "
            f"{analysis.canary_error_percent or 0.0:.1f} % of them 5xx "
            f"(stable: {analysis.stable_error_percent or 0.0:.1f} %)\n"
            "<<< every proxy holds the rollback: all traffic goes to stable again.\n",
            flush=True,
        )

    def _round(self, number: int) -> RolloutStatus:
        result = send_requests(
            self.gateway_url,
            self.pace.requests,
            concurrency=4,  # the seed-guide bulkhead admits 5 at once; more would see 503s
            headers=lambda i: {"x-user-id": f"user-{number}-{i}"},
            timeout=3.0,
            max_duration=10.0,
        )
        answered = sum(result.by_subset.values()) or 1
        shares = {subset: count / answered for subset, count in result.by_subset.items()}
        line = [f"round {number:3d}"]
        for subset, _ in UPSTREAMS:
            share = shares.get(subset, 0.0)
            line.append(f"{subset} {_bar(share)} {100 * share:5.1f}%")
        failures = result.total - result.ok
        line.append(f"{result.ok}/{result.total} ok" + (f", {failures} failed" if failures else ""))
        canary = self._canary_tries()
        if canary is not None:
            line.append(canary)
        print("  ".join(line), flush=True)
        status = self.rollout()
        for event in status.history[self._events_shown :]:
            print(f"           » {event.message}", flush=True)
        self._events_shown = len(status.history)
        print(_status_line(status, self._steps), flush=True)
        self.outcome.rounds.append(Round(number, shares, result.ok, result.total, status))
        self.outcome.rollout = status
        return status

    def _canary_tries(self) -> str | None:
        """The canary's own 503s this round, as it counted them: Envoy retries some of them for
        the users, and none for the analysis."""
        stats = self.upstreams["canary"].stats()
        failed = sum(c for s, c in stats.by_status.items() if s >= 500)
        before_requests, before_failed = self._canary_seen
        self._canary_seen = (stats.requests, failed)
        if failed == before_failed:
            return None
        return f"(canary: {failed - before_failed} of {stats.requests - before_requests} tries 503)"


def run(pace: Pace, *, fixed_ports: bool = True, keys: KeyReader | None = None) -> Outcome:
    """Start everything, tell the story (and with `keys`, let the user play), stop everything;
    the outcome says what was shown."""
    if fixed_ports and (taken := taken_port()) is not None:
        print(f"demo not started: {taken}", file=sys.stderr, flush=True)
        return Outcome()
    with tempfile.TemporaryDirectory(prefix="breakwater-demo-") as scratch:
        policy_dir, state_dir = Path(scratch) / "policies", Path(scratch) / "state"
        policy_dir.mkdir()
        state_dir.mkdir()
        demo = Demo(pace, policy_dir, state_dir, fixed_ports=fixed_ports)
        try:
            demo.start()
            return demo.run(keys)
        except Stop:
            print("\nstopping...", flush=True)
            demo.outcome.code = 0
            return demo.outcome
        except ApiError as exc:
            print(f"demo failed: {exc}", file=sys.stderr)
            return demo.outcome
        except OSError as exc:
            hint = f"; {FREE_PORTS_HINT} runs the demo on free ports" if fixed_ports else ""
            print(f"demo failed: {exc}{hint}", file=sys.stderr)
            return demo.outcome
        finally:
            demo.stop()
            print("demo stopped: Envoy, the control plane and the upstreams are down.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--fast", action="store_true", help="shorter intervals and rounds (the tests use it)"
    )
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="pick free ports instead of deploy/examples' (when 18000, 18001 or 10000 are taken)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="stop once the story is told, instead of handing the keys to you",
    )
    args = parser.parse_args(argv)
    pace = FAST if args.fast else NORMAL
    with stop_on_signals():
        if args.once:
            return run(pace, fixed_ports=not args.free_ports).code
        reader = KeyReader()
        with reader.reading():
            return run(pace, fixed_ports=not args.free_ports, keys=reader).code


if __name__ == "__main__":
    sys.exit(main())
