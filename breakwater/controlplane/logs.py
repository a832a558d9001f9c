"""The control plane's own log: text for a terminal, or one JSON object a line for a log pipeline.

In JSON a record's fields are named as in Envoy's access log lines
(`breakwater.log_fields`): the time is `start_time`, in the same
format, and a request to the admin API is logged with `method`, `path`,
`authority`, `response_code`, `duration_ms`, `user_agent` and `request_id`,
so that one pipeline parses the proxies' lines and the control plane's, and
a search for a request id finds both. Writes to the admin API are logged at
INFO, reads at DEBUG: a write moves traffic, a read is a dashboard polling.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

from breakwater.log_fields import ACCESS_LOG_FIELDS

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

REQUEST_LOGGER = "breakwater.access"


def _field(name: str) -> str:
    """A field of Envoy's access log lines; a name they do not have is a mistake found at import."""
    if name not in ACCESS_LOG_FIELDS:
        raise ValueError(f"{name!r} is not a field of the access log lines")
    return name


TIME = _field("start_time")
REQUEST_FIELDS = tuple(
    _field(name)
    for name in (
        "method",
        "path",
        "authority",
        "response_code",
        "duration_ms",
        "user_agent",
        "request_id",
    )
)
LEVEL = "level"
LOGGER = "logger"
MESSAGE = "message"
ERROR = "error"

_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def envoy_time(seconds: float) -> str:
    """As Envoy's %START_TIME% writes it: UTC, milliseconds, `Z`."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            TIME: envoy_time(record.created),
            LEVEL: record.levelname.lower(),
            LOGGER: record.name,
            MESSAGE: record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out[ERROR] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str, log_format: LogFormat) -> None:
    """The root logger's one handler, on stderr, in the format asked for."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    # The Kubernetes client's HTTP library logs every request at INFO (every watch, every
    # retry); what matters of them the watches log themselves.
    logging.getLogger("httpx2").setLevel(logging.WARNING)


def log_request(
    *,
    method: str,
    path: str,
    authority: str | None,
    status: int,
    started: float,
    user_agent: str | None,
    request_id: str | None,
    write: bool,
) -> None:
    """One admin API request, with the access log's field names; `started` is `time.monotonic()`."""
    duration_ms = round((time.monotonic() - started) * 1000)
    values = (method, path, authority, status, duration_ms, user_agent, request_id)
    logging.getLogger(REQUEST_LOGGER).log(
        logging.INFO if write else logging.DEBUG,
        "%s %s %d %d ms",
        method,
        path,
        status,
        duration_ms,
        extra=dict(zip(REQUEST_FIELDS, values, strict=True)),
    )
