"""The failing upstream, checked with plain urllib and with the traffic driver."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import pytest

from breakwater.client import http
from breakwater.devtools.ports import free_port, free_ports
from breakwater.devtools.traffic import ErrorKind, TrafficResult, asend_requests, send_requests
from breakwater.devtools.upstream import Behavior, Upstream, UpstreamServer


def test_every_response_names_its_instance(upstream: UpstreamServer) -> None:
    reply = http("GET", upstream.url + "/pay?x=1")
    status, headers, body = reply.status, reply.headers, reply.body

    assert status == 200
    assert headers["x-instance"] == "payments-canary-0"
    assert headers["x-service"] == "payments"
    assert headers["x-subset"] == "canary"
    assert body["instance"] == "payments-canary-0"
    assert body["service"] == "payments"
    assert body["subset"] == "canary"
    assert body["path"] == "/pay"


def test_default_instance_name_is_unique_per_port() -> None:
    with (
        UpstreamServer(service="orders", subset="stable") as first,
        UpstreamServer(service="orders", subset="stable") as second,
    ):
        assert first.instance == f"orders-stable-{first.port}"
        assert first.instance != second.instance
        reply = http("GET", second.url)
        headers = reply.headers
        assert headers["x-instance"] == second.instance


def test_failing_every_second_request_gives_exactly_half_503(upstream: UpstreamServer) -> None:
    upstream.configure(fail_every=2)

    # Faults follow the arrival sequence, so concurrency does not blur the ratio.
    result = send_requests(upstream.url, 200, concurrency=8)

    assert result.by_status == {200: 100, 503: 100}, result.summary()
    assert result.status_fraction(503) == 0.5
    # A failed response still names the instance: a test can tell which host failed.
    assert result.by_instance == {"payments-canary-0": 200}
    stats = upstream.stats()
    assert stats.requests == 200
    assert stats.by_status == {200: 100, 503: 100}


def test_failure_status_is_configurable(upstream: UpstreamServer) -> None:
    upstream.configure(fail_every=1, fail_status=500)

    result = send_requests(upstream.url, 10)

    assert result.by_status == {500: 10}


def test_failing_the_first_requests_recovers_after_them(upstream: UpstreamServer) -> None:
    upstream.configure(fail_first=3, fail_status=500)

    result = send_requests(upstream.url, 5)
    upstream.reset_stats()  # the count starts again
    again = send_requests(upstream.url, 4)

    assert [r.status for r in result.records] == [500, 500, 500, 200, 200]
    assert [r.status for r in again.records] == [500, 500, 500, 200]


def test_fraction_failing_is_near_the_fraction_and_reproducible_with_a_seed(
    upstream: UpstreamServer,
) -> None:
    upstream.configure(fail_fraction=0.3, seed=7)
    first = send_requests(upstream.url, 400)
    upstream.configure(seed=7)
    second = send_requests(upstream.url, 400)

    assert 0.2 <= first.status_fraction(503) <= 0.4, first.summary()
    assert first.by_status[200] + first.by_status[503] == 400
    assert [r.status for r in first.records] == [r.status for r in second.records]


def test_latency_is_added_to_every_request_and_overlaps(upstream: UpstreamServer) -> None:
    upstream.configure(latency=0.2)

    result = send_requests(upstream.url, 10, concurrency=10)

    assert result.ok == 10
    assert min(result.latencies) >= 0.2
    # Ten sleeping requests share one loop: concurrent, not one after another.
    assert result.duration < 1.0, result.summary()
    assert upstream.stats().max_in_flight == 10


def test_first_attempt_of_a_request_id_is_delayed_but_not_its_retry(
    upstream: UpstreamServer,
) -> None:
    upstream.configure(first_attempt_delay=0.3)
    ids = ["a", "a", "b", "b", "a"]

    result = send_requests(upstream.url, len(ids), headers=lambda i: {"x-request-id": ids[i]})

    slow = [record.latency >= 0.3 for record in result.records]
    assert slow == [True, False, True, False, False]
    assert upstream.stats().delayed_first_attempts == 2


def test_first_attempt_delay_can_target_given_ids(upstream: UpstreamServer) -> None:
    upstream.configure(first_attempt_delay=0.3, first_attempt_values=("b",))
    ids = ["a", "b", "b"]

    result = send_requests(upstream.url, len(ids), headers=lambda i: {"x-request-id": ids[i]})

    assert [record.latency >= 0.3 for record in result.records] == [False, True, False]


def test_resets_are_counted_as_connection_errors(upstream: UpstreamServer) -> None:
    upstream.configure(reset_every=2)

    result = send_requests(upstream.url, 20)

    assert result.by_status == {200: 10}, result.summary()
    assert result.by_error == {ErrorKind.RESET: 10}
    assert result.connection_errors == 10
    assert result.timeouts == 0
    assert [r.error for r in result.records[:4]] == [None, ErrorKind.RESET, None, ErrorKind.RESET]
    assert upstream.stats().resets == 10


def test_a_reset_wins_over_a_failure_on_the_same_request(upstream: UpstreamServer) -> None:
    upstream.configure(reset_every=2, fail_every=2)

    result = send_requests(upstream.url, 10)

    assert result.by_status == {200: 5}
    assert result.connection_errors == 5


def test_health_toggles_from_python_and_over_http(upstream: UpstreamServer) -> None:
    upstream.configure(fail_every=1)  # faults do not reach /health
    assert http("GET", upstream.url + "/health").status == 200

    upstream.configure(healthy=False)
    reply = http("GET", upstream.url + "/health")
    status, headers, body = reply.status, reply.headers, reply.body
    assert (status, body["status"]) == (503, "failing")
    assert headers["x-instance"] == "payments-canary-0"

    assert http("POST", upstream.url + "/__control", {"healthy": True}).status == 200
    assert http("GET", upstream.url + "/health").status == 200
    assert http("POST", upstream.url + "/__control", {"healthy": False}).status == 200
    assert http("GET", upstream.url + "/health").status == 503

    stats = upstream.stats()
    assert stats.health_checks == 4
    assert stats.requests == 0


def test_control_endpoint_merges_replaces_and_rejects(upstream: UpstreamServer) -> None:
    reply = http("POST", upstream.url + "/__control", {"fail_every": 3})
    status, state = reply.status, reply.body
    assert status == 200
    assert state["behavior"]["fail_every"] == 3

    reply = http("POST", upstream.url + "/__control", {"latency": 0.01})
    status, state = reply.status, reply.body
    assert state["behavior"]["fail_every"] == 3, "a POST keeps the fields it does not name"
    assert state["behavior"]["latency"] == 0.01

    for bad in ({"fail_evry": 2}, {"fail_every": "2"}, {"fail_fraction": 2.0}, [1]):
        reply = http("POST", upstream.url + "/__control", bad)
        status, body = reply.status, reply.body
        assert status == 400, bad
        assert body["error"]
    assert upstream.behavior.fail_every == 3, "a rejected change leaves the behaviour alone"

    reply = http("PUT", upstream.url + "/__control", {"healthy": False})
    status, state = reply.status, reply.body
    assert status == 200
    assert upstream.behavior == Behavior(healthy=False)

    # The control endpoint is not subject to faults and not counted.
    upstream.configure(fail_every=1)
    reply = http("GET", upstream.url + "/__control")
    status, state = reply.status, reply.body
    assert status == 200
    assert state["instance"] == "payments-canary-0"
    assert state["stats"]["requests"] == 0


def test_counters_reset_over_http_restart_the_sequence(upstream: UpstreamServer) -> None:
    upstream.configure(fail_every=2)
    assert send_requests(upstream.url, 3).by_status == {200: 2, 503: 1}

    reply = http("POST", upstream.url + "/__control/reset")
    status, state = reply.status, reply.body

    assert status == 200
    assert state["stats"]["requests"] == 0
    assert state["stats"]["by_status"] == {}
    # Request 4 would have failed; after the reset it is request 1 again.
    assert [r.status for r in send_requests(upstream.url, 2).records] == [200, 503]


def test_requests_are_kept_as_they_arrived_and_forgotten_on_reset(
    upstream: UpstreamServer,
) -> None:
    http("GET", upstream.url + "/health")
    http("GET", upstream.url + "/pay?x=1", headers={"X-Drill": "true"})

    seen = upstream.seen()
    assert [(r.method, r.path) for r in seen] == [("GET", "/pay?x=1")]
    assert seen[0].headers["x-drill"] == "true"
    reply = http("GET", upstream.url + "/__control")
    state = reply.body
    assert state["seen"][0]["path"] == "/pay?x=1"

    upstream.reset_stats()
    assert upstream.seen() == []


def test_response_headers_are_added(upstream: UpstreamServer) -> None:
    upstream.configure(response_headers={"x-envoy-overloaded": "true"})

    reply = http("GET", upstream.url)
    headers = reply.headers

    assert headers["x-envoy-overloaded"] == "true"


def test_behaviour_is_validated() -> None:
    with pytest.raises(ValueError, match="fail_fraction"):
        Behavior(fail_fraction=1.5)
    with pytest.raises(ValueError, match="fail_status"):
        Behavior(fail_status=42)
    with pytest.raises(ValueError, match="latency"):
        Behavior(latency=-1)
    with pytest.raises(ValueError, match="healthy"):
        Behavior.from_json({"healthy": "no"})
    assert Behavior.from_json({"first_attempt_values": ["a"]}).first_attempt_values == ("a",)


def test_constructor_takes_behaviour_fields() -> None:
    with UpstreamServer(service="s", fail_every=1, fail_status=502) as server:
        assert send_requests(server.url, 2).by_status == {502: 2}


def test_a_taken_port_fails_start() -> None:
    with UpstreamServer() as first:
        second = UpstreamServer(port=first.port)
        with pytest.raises(RuntimeError, match="failed to start"):
            second.start()


def test_stop_does_not_wait_for_slow_requests() -> None:
    server = UpstreamServer(latency=5.0).start()
    outcome: list[TrafficResult] = []
    sender = threading.Thread(
        target=lambda: outcome.append(send_requests(server.url, 1, timeout=10.0))
    )
    sender.start()
    deadline = time.monotonic() + 5
    while server.stats().in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    started = time.monotonic()
    server.stop()
    stopped_in = time.monotonic() - started
    sender.join(10)

    assert stopped_in < 2.0
    assert outcome[0].connection_errors == 1, outcome[0].summary()


async def test_async_upstream_runs_on_the_callers_loop() -> None:
    upstream = Upstream(service="inventory", subset="stable", instance="inv-1")
    port = await upstream.start()
    try:
        upstream.configure(fail_every=2)
        result = await asend_requests(f"http://127.0.0.1:{port}", 4, concurrency=2)
    finally:
        await upstream.stop()

    assert result.by_status == {200: 2, 503: 2}
    assert result.by_instance == {"inv-1": 4}


def test_command_line_entry_point_serves_until_terminated() -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "breakwater.devtools.upstream",
        "--port",
        str(port),
        "--service",
        "payments",
        "--subset",
        "stable",
        "--instance",
        "payments-stable-1",
        "--fail-every",
        "2",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            assert match, line
            assert int(match.group(1)) == port

            result = send_requests(f"http://127.0.0.1:{port}", 4)

            assert result.by_status == {200: 2, 503: 2}
            assert result.by_instance == {"payments-stable-1": 4}
            assert result.by_subset == {"stable": 4}
        finally:
            process.terminate()
            exit_code = process.wait(timeout=10)
    assert exit_code == 0


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)

    assert len(set(ports)) == 5
    for port in ports:
        with UpstreamServer(port=port) as server:
            assert server.port == port


def test_past_its_capacity_the_upstream_gets_slower_with_concurrency(
    upstream: UpstreamServer,
) -> None:
    upstream.configure(latency=0.1, capacity=2)

    alone = send_requests(upstream.url, 2, concurrency=2)
    crowded = send_requests(upstream.url, 8, concurrency=8)

    assert max(alone.latencies) < 0.3, alone.latencies
    # The last of eight arrivals finds 8 in flight: 0.1 s x 8 / 2.
    assert max(crowded.latencies) >= 0.35, crowded.latencies
