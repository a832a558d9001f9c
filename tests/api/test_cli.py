"""`breakwater weights|status|policies` as an operator runs them: the installed command, a subprocess."""

from __future__ import annotations

import json

from breakwater.client import http
from breakwater.devtools.controlplane import ControlPlaneThread
from breakwater.devtools.ports import free_port
from tests.api.cli import BREAKWATER, run_cli
from tests.support.admin import weights_url


def test_the_command_is_installed() -> None:
    assert BREAKWATER.is_file(), f"{BREAKWATER} is missing: install the package into the venv"


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    done = run_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"breakwater {version('breakwater')}"


def test_the_server_can_come_from_the_environment(plane: ControlPlaneThread) -> None:
    done = run_cli("weights", "get", "payments", env={"BREAKWATER_SERVER": plane.admin_url})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("route payments rule split (index 0,"), done.stdout
    unreachable = f"http://127.0.0.1:{free_port()}"
    refused = run_cli("status", env={"BREAKWATER_SERVER": unreachable})
    assert refused.returncode == 1
    assert f"cannot reach the Breakwater admin API at {unreachable}" in refused.stderr
    assert "$BREAKWATER_SERVER" in refused.stderr


def test_weights_that_do_not_add_up_to_100_need_relative(plane: ControlPlaneThread) -> None:
    server = ("--server", plane.admin_url)
    typo = run_cli("weights", "set", "payments", "stable=75", "canary=20", *server)
    assert typo.returncode == 1
    assert typo.stderr.strip() == (
        "error: the weights add up to 95, not 100: give weights that add up to 100, or pass "
        "--relative to send them as they are (stable 78.9 %, canary 21.1 %)"
    )
    assert http("GET", weights_url(plane.admin_url)).body["source"] == "yaml"
    meant = run_cli("weights", "set", "payments", "stable=3", "canary=1", "--relative", *server)
    assert meant.returncode == 0, meant.stderr
    assert http("GET", weights_url(plane.admin_url)).body["weights"] == {"stable": 3, "canary": 1}


def test_weights_set_prints_a_table(plane: ControlPlaneThread) -> None:
    done = run_cli(
        "weights", "set", "payments", "stable=75", "canary=25", "--server", plane.admin_url
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "route payments rule split (index 0, from override, revision 1)"
    assert lines[1].split() == ["BACKEND", "WEIGHT", "SHARE"]
    assert lines[2].split() == ["stable", "75", "75.0%"]
    assert lines[3].split() == ["canary", "25", "25.0%"]
    assert http("GET", weights_url(plane.admin_url)).body["weights"] == {
        "stable": 75,
        "canary": 25,
    }


def test_weights_get_set_reset_as_json(plane: ControlPlaneThread) -> None:
    server = ("--server", plane.admin_url, "--output", "json")
    got = run_cli("weights", "get", "payments", *server)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == {
        "route": "payments",
        "rule": 0,
        "weights": {"stable": 90, "canary": 10},
        "source": "yaml",
        "revision": 0,
        "rule_name": "split",
    }

    written = run_cli(
        "weights", "set", "payments", "stable=40", "canary=60", "--expected-revision", "0", *server
    )
    assert written.returncode == 0, written.stderr
    body = json.loads(written.stdout)
    assert body["weights"] == {"stable": 40, "canary": 60}
    assert body["source"] == "override"
    assert body["revision"] == 1

    stale = run_cli(
        "weights", "set", "payments", "stable=50", "canary=50", "--expected-revision", "0", *server
    )
    assert stale.returncode == 1
    assert stale.stdout == ""
    assert "409" in stale.stderr and "is at revision 1, not 0" in stale.stderr

    reset = run_cli("weights", "reset", "payments", "--expected-revision", "1", *server)
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["source"] == "yaml"

    status = run_cli("status", *server)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state_revision"] == 2


def test_unknown_backend_exits_1_with_the_servers_sentence(plane: ControlPlaneThread) -> None:
    done = run_cli(
        "weights", "set", "payments", "stable=75", "blue=25", "--server", plane.admin_url
    )
    assert done.returncode == 1
    assert done.stdout == ""
    server_says = "HTTPRoute 'payments' rule 0 has no backend 'blue'; its backends: stable, canary"
    assert done.stderr.strip() == f"error: PUT /v1/routes/payments/weights: 400: {server_says}"
    assert "Traceback" not in done.stderr


def test_a_weight_that_is_not_a_number_never_reaches_the_server(plane: ControlPlaneThread) -> None:
    done = run_cli(
        "weights", "set", "payments", "stable=lots", "canary=1", "--server", plane.admin_url
    )
    assert done.returncode == 1
    assert "weight stable='lots' is not a whole number" in done.stderr
    assert http("GET", f"{plane.admin_url}/v1/status").body["state_revision"] == 0


def test_server_down_exits_1_saying_it_cannot_reach_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run_cli("weights", "set", "payments", "stable=75", "canary=25", "--server", url)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: cannot reach the Breakwater admin API at {url}: ")
    assert "Is `breakwater serve` running?" in done.stderr
    assert "Traceback" not in done.stderr
