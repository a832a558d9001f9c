"""Plain urllib requests, so the upstream is checked without the traffic driver."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def http_json(
    method: str, url: str, body: Any = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Return status, lower-cased response headers and the decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            headers = {name.lower(): value for name, value in response.headers.items()}
            return response.status, headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            headers = {name.lower(): value for name, value in error.headers.items()}
            return error.code, headers, json.loads(error.read())
