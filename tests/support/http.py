"""HTTP as it goes over the wire, for what `breakwater.client.http` smooths away.

Tests that read an answer as Envoy sent it (a redirect not followed, a header
given twice, a Host of their choosing) use `exchange`; everything else speaks
through the client.
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from dataclasses import dataclass


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
