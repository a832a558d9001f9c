"""JSON over HTTP to the admin API, keeping the status and text of every answer.

`breakwater.client.call` is the CLI's side: it turns an error status into an
`ApiError` for people. Tests and benchmarks need the status codes of refusals
too, and the raw text when the body is not JSON, so they call `http`.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One answer: its status, its body parsed as JSON (None when it is not JSON), its text."""

    status: int
    body: Any
    text: str


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One request; a JSON `body` is encoded, `raw` bytes are sent as they are.

    An error status is an answer like any other; only a failure to get one
    (refused, timed out) raises, as `OSError`.
    """
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    text = payload.decode(errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return Reply(status, parsed, text)


__all__ = ["Reply", "http"]
