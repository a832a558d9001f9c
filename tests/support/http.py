"""JSON over HTTP that keeps the answer's headers and insists on JSON.

`breakwater.devtools.adminclient.http` reads the admin API and lets a body that is
not JSON through as text. Tests that check headers (the upstream's) or that want
such a body to fail the test (every answer of the replicas must be JSON) use
`http_json`.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any


def http_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], Any]:
    """Status, lower-cased response headers and the decoded JSON body.

    An error status is an answer like any other; a body that is not JSON fails the test.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            status, answer, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, answer, payload = error.code, error.headers, error.read()
    text = payload.decode()
    try:
        decoded = json.loads(text)
    except ValueError:
        raise AssertionError(f"{method} {url} answered {status} with no JSON: {text!r}") from None
    return status, {name.lower(): value for name, value in answer.items()}, decoded
