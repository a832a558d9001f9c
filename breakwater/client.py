"""The one client of the admin API: for the CLI, the demo, the benchmarks and the tests.

`http` sends one request and keeps whatever comes back (status, headers, the body
as JSON when it is JSON, its text): tests and tools that look at refusals use it.
`call` runs one operation of the operations table (`controlplane/api/table.py`)
by name: the path and query come from the table, a refusal or an unreachable
server becomes an `ApiError` with a sentence for people. `read_answer` reads an
answer back into the API's model. HTTP goes through the standard library (no
event loop), and only Pydantic comes with the models and the table:
`breakwater status` does not load the policy code.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from breakwater.controlplane.api.models import ApiModel
from breakwater.controlplane.api.table import BY_NAME
from breakwater.defaults import ADMIN_PORT, HOST

DEFAULT_SERVER = f"http://{HOST}:{ADMIN_PORT}"
SERVER_ENV = "BREAKWATER_SERVER"
"""Where the CLI's commands send their calls when --server is not given."""
TOKEN_ENV = "BREAKWATER_TOKEN"


class ApiError(Exception):
    """The server refused or could not be reached; the message is for people."""


@dataclass(frozen=True)
class Reply:
    """One answer: its status, its body parsed as JSON (None when it is not JSON), its text."""

    status: int
    body: Any
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-cased names; a header sent twice keeps its last value."""


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
    """One request; a JSON `body` is encoded, `raw` bytes are sent as they are, and the
    request says it is JSON unless `headers` say otherwise.

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
            status, answer, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, answer, payload = exc.code, exc.headers, exc.read()
    text = payload.decode(errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return Reply(status, parsed, text, {name.lower(): value for name, value in answer.items()})


def path_of(operation: str, params: Mapping[str, object] | None = None) -> tuple[str, str]:
    """The method and the path (with its query) of one operation of the table."""
    op = BY_NAME[operation]
    given = {k: v for k, v in (params or {}).items() if v is not None}
    unknown = set(given) - {p.name for p in op.parameters}
    if unknown:
        raise TypeError(f"{operation} takes no parameter {', '.join(sorted(unknown))}")
    path = op.path
    query = {}
    for parameter in op.parameters:
        if parameter.name not in given:
            if parameter.where == "path":
                raise TypeError(f"{operation} needs its parameter {parameter.name}")
            continue
        value = str(given[parameter.name])
        if parameter.where == "path":
            path = path.replace("{" + parameter.name + "}", urllib.parse.quote(value, safe=""))
        else:
            query[parameter.name] = value
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    return op.method.upper(), path + suffix


def call(
    server: str,
    operation: str,
    params: Mapping[str, object] | None = None,
    body: ApiModel | Mapping[str, Any] | None = None,
    *,
    token: str | None = None,
    ca_file: str | None = None,
    timeout: float = 10.0,
) -> Any:
    """Run one operation and return its JSON answer; the token comes from `token` or the
    BREAKWATER_TOKEN environment variable.

    A write always carries a JSON body (`{}` when it needs none): the server refuses writes of
    any other type, so that no web form of another site can make one."""
    method, path = path_of(operation, params)
    if isinstance(body, ApiModel):
        sent: Any = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif body is None and method not in ("GET", "HEAD"):
        sent = {}
    else:
        sent = None if body is None else dict(body)
    headers = {"Accept": "application/json"}
    token = token or os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    try:
        reply = http(
            method,
            server.rstrip("/") + path,
            sent,
            headers=headers,
            context=context,
            timeout=timeout,
        )
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(
            f"cannot reach the Breakwater admin API at {server}: {reason}. "
            "Is `breakwater serve` running? Point --server (or $BREAKWATER_SERVER) at its admin port."
        ) from None
    if reply.status >= 400:
        detail = reply.body.get("error") if isinstance(reply.body, dict) else None
        raise ApiError(f"{method} {path}: {reply.status}: {detail or reply.text or 'no answer'}")
    return reply.body


A = TypeVar("A", bound=ApiModel)


def read_answer(model: type[A], answer: Any) -> A:
    """An answer as the model it should be; one that is not says so in a sentence."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        raise ApiError(
            f"the server's answer is not a {model.__name__}: {where}: {first['msg']}. "
            "Is --server the admin port of a Breakwater of the same version?"
        ) from None
