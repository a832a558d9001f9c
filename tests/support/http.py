"""JSON over HTTP that keeps the answer's headers and insists on JSON.

`breakwater.devtools.adminclient.http` reads the admin API and lets a body that is
not JSON through as text. Tests that check headers (the upstream's) or that want
such a body to fail the test (every answer of the replicas must be JSON) use
`http_json`. Tests that read an answer as Envoy sent it (a redirect not followed,
a header given twice, a Host of their choosing) use `exchange`.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Exchange:
    """One HTTP answer as it came: redirects not followed, every header line kept."""

    status: int
    headers: dict[str, list[str]]
    """Lower-cased name → its values, one per header line, in order."""
    body: bytes

    def header(self, name: str) -> str | None:
        """All the values of a header as one comma-separated value (RFC 9110), or None."""
        values = self.headers.get(name.lower())
        return None if values is None else ",".join(values)


def exchange(
    method: str,
    address: tuple[str, int],
    path: str,
    *,
    host: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 5.0,
) -> Exchange:
    """Send one request to `address` with `host` as its Host header, and keep the answer whole."""
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        sent = dict(headers or {})
        if host is not None:
            sent["Host"] = host
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        found: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            found.setdefault(name.lower(), []).append(value)
        return Exchange(response.status, found, response.read())
    finally:
        connection.close()
