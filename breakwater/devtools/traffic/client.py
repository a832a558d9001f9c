"""One HTTP session, and how each request's outcome becomes a `ResponseRecord`.

Both ways of sending (a bounded batch and continuous traffic) share it, so a
response is read, attributed to an instance and classified the same way.

The client never retries. aiohttp by default resends an idempotent request
once when a kept-alive connection breaks, which would hide exactly the
resets that retry policies are meant to cover; that is switched off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Self

import aiohttp

from breakwater.devtools.traffic.results import ErrorKind, ResponseRecord
from breakwater.devtools.upstream import INSTANCE_HEADER, SUBSET_HEADER

DEFAULT_WATCH_HEADERS: tuple[str, ...] = (
    "x-envoy-overloaded",
    "x-envoy-ratelimited",
    "x-envoy-attempt-count",
)

HeadersArg = Mapping[str, str] | Callable[[int], Mapping[str, str]] | None
PathArg = str | Callable[[int], str]


class TrafficClient:
    """One session and the logic that turns a request into a `ResponseRecord`."""

    def __init__(
        self,
        base_url: str,
        *,
        path: PathArg,
        method: str,
        headers: HeadersArg,
        body: bytes | None,
        timeout: float,
        watch_headers: Iterable[str],
        connection_limit: int,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self._base_url = base_url.rstrip("/")
        self._path = path
        self._method = method.upper()
        self._headers = headers
        self._body = body
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._watch = tuple(name.lower() for name in watch_headers)
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self.origin = time.perf_counter()

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(limit=self._connection_limit, ttl_dns_cache=None)
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            raise_for_status=False,
        )
        # See the module docstring: a hidden resend would mask resets.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session
        self.origin = time.perf_counter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _url(self, index: int) -> str:
        path = self._path(index) if callable(self._path) else self._path
        if not path.startswith("/"):
            path = "/" + path
        return self._base_url + path

    def _request_headers(self, index: int) -> Mapping[str, str] | None:
        if callable(self._headers):
            return self._headers(index)
        return self._headers

    async def send(self, index: int) -> ResponseRecord:
        session = self._session
        if session is None:
            raise RuntimeError("the client is not open")
        url = self._url(index)
        headers = self._request_headers(index)
        start = time.perf_counter()
        try:
            async with session.request(
                self._method, url, headers=headers, data=self._body, allow_redirects=False
            ) as response:
                payload = await response.read()
                latency = time.perf_counter() - start
                instance = response.headers.get(INSTANCE_HEADER)
                subset = response.headers.get(SUBSET_HEADER)
                if instance is None or subset is None:
                    identity = _identity_from_body(payload)
                    instance = instance or identity.get("instance")
                    subset = subset or identity.get("subset")
                watched = {
                    name: response.headers[name] for name in self._watch if name in response.headers
                }
                return ResponseRecord(
                    index=index,
                    started=start - self.origin,
                    latency=latency,
                    status=response.status,
                    instance=instance,
                    subset=subset,
                    headers=watched,
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return ResponseRecord(
                index=index,
                started=start - self.origin,
                latency=time.perf_counter() - start,
                error=_classify(exc),
                error_detail=f"{type(exc).__name__}: {exc}",
            )


def _identity_from_body(payload: bytes) -> dict[str, str]:
    """Read instance and subset from a JSON body when a proxy stripped the headers."""
    if not payload.startswith(b"{"):
        return {}
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key in ("instance", "subset") if isinstance(value := data.get(key), str)}


def _classify(exc: BaseException) -> ErrorKind:
    # Order matters: aiohttp's timeout errors are also connection errors, and
    # a refused connect is also an OSError.
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ErrorKind.CONNECT
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientOSError
        | aiohttp.ClientPayloadError
        | ConnectionError,
    ):
        return ErrorKind.RESET
    return ErrorKind.OTHER
