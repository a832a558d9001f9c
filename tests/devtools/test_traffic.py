"""The traffic driver against the upstream directly (no proxy in between)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from breakwater.devtools.ports import free_port
from breakwater.devtools.traffic import (
    ContinuousTraffic,
    ErrorKind,
    ResponseRecord,
    TrafficResult,
    send_requests,
)
from breakwater.devtools.upstream import UpstreamServer


def test_counts_per_instance_subset_and_status(upstream: UpstreamServer) -> None:
    with UpstreamServer(service="payments", subset="stable", instance="payments-stable-0") as other:
        canary = send_requests(upstream.url, 30, concurrency=4)
        stable = send_requests(other.url, 70, concurrency=4)

    assert canary.by_instance == {"payments-canary-0": 30}
    assert canary.by_subset == {"canary": 30}
    assert stable.by_instance == {"payments-stable-0": 70}
    assert stable.by_subset == {"stable": 70}
    assert (stable.total, stable.responses, stable.ok, stable.errors) == (70, 70, 70, 0)
    assert stable.instance_fraction("payments-stable-0") == 1.0
    assert [record.index for record in stable.records] == list(range(70))


class _BodyOnlyHandler(BaseHTTPRequestHandler):
    """Names the instance only in the body, as a proxy that strips headers would leave it."""

    def do_GET(self) -> None:
        payload = json.dumps({"instance": "body-only-1", "subset": "blue"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def body_only_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BodyOnlyHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_instance_is_read_from_the_body_without_the_header(body_only_server: str) -> None:
    result = send_requests(body_only_server, 5)

    assert result.by_instance == {"body-only-1": 5}
    assert result.by_subset == {"blue": 5}


def test_concurrency_bound_is_respected(upstream: UpstreamServer) -> None:
    upstream.configure(latency=0.1)

    result = send_requests(upstream.url, 40, concurrency=5)

    assert result.ok == 40
    # Exactly five at a time: never more, and the bound is actually used.
    assert upstream.stats().max_in_flight == 5
    assert result.duration >= 0.75, result.summary()


def test_per_request_headers_come_from_the_index(upstream: UpstreamServer) -> None:
    # Pairs of requests share an id; only the first of each pair is a first sighting.
    upstream.configure(first_attempt_delay=0.05)

    result = send_requests(
        upstream.url, 10, concurrency=1, headers=lambda i: {"x-request-id": f"id-{i // 2}"}
    )

    assert result.ok == 10
    assert upstream.stats().delayed_first_attempts == 5


def test_path_can_depend_on_the_index(upstream: UpstreamServer) -> None:
    result = send_requests(upstream.url, 3, path=lambda i: "/health" if i == 1 else f"/p{i}")

    assert result.ok == 3
    stats = upstream.stats()
    assert (stats.requests, stats.health_checks) == (2, 1)


def test_timeouts_are_counted_apart_from_connection_errors(upstream: UpstreamServer) -> None:
    upstream.configure(latency=1.0)

    result = send_requests(upstream.url, 3, concurrency=3, timeout=0.2)

    assert result.by_error == {ErrorKind.TIMEOUT: 3}, result.summary()
    assert result.timeouts == 3
    assert result.connection_errors == 0
    assert result.responses == 0
    assert result.duration < 0.9


def test_refused_connections_are_connection_errors() -> None:
    port = free_port()  # nothing listens here

    result = send_requests(f"http://127.0.0.1:{port}", 4, concurrency=2)

    assert result.by_error == {ErrorKind.CONNECT: 4}
    assert result.connection_errors == 4
    assert all(record.status is None and record.error_detail for record in result.records)


def test_the_run_stops_at_its_time_bound(upstream: UpstreamServer) -> None:
    upstream.configure(latency=0.1)

    result = send_requests(upstream.url, 1000, concurrency=2, max_duration=0.5)

    assert result.not_sent > 0
    assert result.total + result.not_sent == 1000
    assert result.duration < 1.0


def test_watched_headers_are_recorded(upstream: UpstreamServer) -> None:
    upstream.configure(response_headers={"x-envoy-overloaded": "true", "x-other": "1"})

    result = send_requests(upstream.url, 4)

    assert result.header_counts == {"x-envoy-overloaded": 4}
    assert len(result.with_header("X-Envoy-Overloaded")) == 4
    assert result.records[0].headers == {"x-envoy-overloaded": "true"}

    custom = send_requests(upstream.url, 2, watch_headers=["X-Other"])
    assert custom.header_counts == {"x-other": 2}


def test_two_thousand_requests_take_a_few_seconds(upstream: UpstreamServer) -> None:
    result = send_requests(upstream.url, 2000, concurrency=32)

    assert result.ok == 2000, result.summary()
    assert result.duration < 5.0, result.summary()


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        send_requests("http://127.0.0.1:1", 1, concurrency=0)
    with pytest.raises(ValueError, match="count"):
        send_requests("http://127.0.0.1:1", -1)
    with pytest.raises(ValueError, match="rate"):
        ContinuousTraffic("http://127.0.0.1:1", rate=0)


def _record(
    index: int, latency: float, status: int | None = 200, error: ErrorKind | None = None
) -> ResponseRecord:
    return ResponseRecord(index=index, started=0.0, latency=latency, status=status, error=error)


def test_result_tallies_and_percentiles() -> None:
    records = [_record(i, latency=(i + 1) / 100) for i in range(9)]
    records.append(_record(9, latency=1.0, status=None, error=ErrorKind.RESET))
    records.reverse()
    result = TrafficResult(records=tuple(records), duration=2.0, not_sent=3)

    assert [record.index for record in result.records] == list(range(10))
    assert result.latency_percentile(50) == 0.05
    assert result.latency_percentile(90) == 0.09
    assert result.latency_percentile(100) == 1.0
    assert result.latency_percentile(0) == 0.01
    assert result.status_fraction(200) == 0.9
    assert result.rate == 5.0
    assert result.errors == result.connection_errors == 1
    assert "10 requests" in result.summary()
    assert "reset=1" in result.summary()
    empty = TrafficResult(records=(), duration=0.0)
    assert (empty.latency_percentile(99), empty.status_fraction(200), empty.rate) == (0, 0, 0)


def test_continuous_traffic_keeps_a_steady_rate_without_errors(upstream: UpstreamServer) -> None:
    with ContinuousTraffic(upstream.url, rate=100) as traffic:
        time.sleep(0.6)
        upstream.configure(latency=0.01)  # a change under load that must not cost a request
        time.sleep(0.2)
    result = traffic.result

    assert 55 <= result.total <= 95, result.summary()
    assert result.server_errors == 0
    assert result.errors == 0
    assert result.by_instance == {"payments-canary-0": result.total}
    assert upstream.stats().requests == result.total


def test_continuous_traffic_sees_a_failure_injected_mid_run(upstream: UpstreamServer) -> None:
    traffic = ContinuousTraffic(upstream.url, rate=200).start()
    try:
        traffic.wait_for(20)
        before = traffic.snapshot()
        upstream.configure(fail_every=1)
        traffic.wait_for(before.total + 20)
    finally:
        result = traffic.stop()

    assert before.server_errors == 0
    assert all(record.status == 200 for record in result.records[: before.total])
    assert result.server_errors >= 15, result.summary()
    assert result.by_status[503] == result.server_errors


def test_continuous_traffic_stops_by_itself() -> None:
    with UpstreamServer() as server:
        counted = ContinuousTraffic(server.url, rate=500, max_requests=10).start()
        timed = ContinuousTraffic(server.url, rate=20, max_duration=0.3).start()
        deadline = time.monotonic() + 3
        while (counted.running or timed.running) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not counted.running
        assert not timed.running

    assert counted.stop().total == 10
    assert 4 <= timed.stop().total <= 8


def test_continuous_traffic_bounds_requests_in_flight(upstream: UpstreamServer) -> None:
    upstream.configure(latency=0.2)

    with ContinuousTraffic(upstream.url, rate=200, max_in_flight=4) as traffic:
        time.sleep(0.5)
    result = traffic.result

    assert upstream.stats().max_in_flight == 4
    # Sending waits for a free slot instead of queueing 100 requests.
    assert 8 <= result.total <= 16, result.summary()
    assert result.ok == result.total


def test_continuous_traffic_counts_connection_errors() -> None:
    port = free_port()

    with ContinuousTraffic(f"http://127.0.0.1:{port}", rate=100) as traffic:
        traffic.wait_for(5)
    result = traffic.result

    assert result.total >= 5
    assert result.connection_errors == result.total
    assert result.responses == 0


async def test_sync_api_works_inside_a_running_loop(upstream: UpstreamServer) -> None:
    result = send_requests(upstream.url, 3)

    assert result.ok == 3
