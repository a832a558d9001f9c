"""`serve --log-format json`: one JSON object a line, with the field names of Envoy's access log."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

from breakwater.client import http
from breakwater.controlplane.logs import JsonFormatter, envoy_time
from breakwater.devtools.serve import ServeProcess
from breakwater.devtools.waiting import wait_until
from breakwater.log_fields import ACCESS_LOG_FIELDS
from tests.support.admin import weights_url
from tests.support.policies import PolicyDir

ENVOY_START_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
"""How Envoy's %START_TIME% reads in a JSON access log line: `2026-12-01T20:04:34.602Z`."""


def test_a_record_is_one_json_object_with_the_access_log_time_and_its_extra_fields() -> None:
    try:
        raise ValueError("disk full")
    except ValueError:
        record = logging.LogRecord(
            "breakwater.x", logging.WARNING, __file__, 1, "rejected %s", ("cds",), sys.exc_info()
        )
    record.node_id = "edge-1"
    line = json.loads(JsonFormatter().format(record))
    assert ENVOY_START_TIME.match(line["start_time"]), line
    assert line["level"] == "warning"
    assert line["logger"] == "breakwater.x"
    assert line["message"] == "rejected cds"
    assert line["node_id"] == "edge-1"
    assert "ValueError: disk full" in line["error"]
    assert envoy_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert envoy_time(1.5) == "1970-01-01T00:00:01.500Z"


def test_serve_logs_json_and_an_admin_write_with_the_fields_of_an_access_log_line(
    tmp_path: Path,
) -> None:
    policies = PolicyDir.create(tmp_path / "policies")
    log_path = tmp_path / "serve.log"
    server = ServeProcess(
        policies.path, tmp_path / "state", log_path, extra_args=["--log-format", "json"]
    ).start()
    try:
        written = http(
            "PUT",
            weights_url(server.admin_url),
            {"weights": {"stable": 50, "canary": 50}},
            headers={"X-Request-Id": "req-7", "User-Agent": "release-bot/1.0"},
        )
        assert written.status == 200, written.text

        def the_write() -> dict[str, object] | None:
            lines = [json.loads(line) for line in log_path.read_text().splitlines() if line]
            return next((line for line in lines if line.get("request_id") == "req-7"), None)

        line = wait_until(the_write, 5.0, "the write's log line")
    finally:
        server.stop()

    every = [json.loads(text) for text in log_path.read_text().splitlines() if text]
    assert every, "serve wrote nothing"
    assert all(ENVOY_START_TIME.match(str(record["start_time"])) for record in every)
    shared = {"method", "path", "authority", "response_code", "duration_ms", "user_agent"}
    assert shared <= set(ACCESS_LOG_FIELDS)
    assert line["method"] == "PUT"
    assert line["path"] == "/v1/routes/payments/weights"
    assert line["response_code"] == 200
    assert line["user_agent"] == "release-bot/1.0"
    assert line["authority"] == f"127.0.0.1:{server.admin_port}"
    assert isinstance(line["duration_ms"], int)
    assert line["logger"] == "breakwater.access" and line["level"] == "info"
