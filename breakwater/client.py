"""The CLI's side of the admin API: HTTP JSON calls and tables for people.

HTTP goes through the standard library (no event loop); answers are read
back into the API's own models before a table is drawn, so the CLI prints
the fields the server defines and nothing it has to guess. Only Pydantic
comes with the models: `breakwater status` does not load the policy code.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TypeVar

from pydantic import ValidationError

from breakwater.controlplane.api.models import (
    ApiModel,
    PoliciesResponse,
    Replica,
    StatusResponse,
    Weights,
)

DEFAULT_SERVER = "http://127.0.0.1:18001"


class ApiError(Exception):
    """The server refused or could not be reached; the message is for people."""


TOKEN_ENV = "BREAKWATER_TOKEN"


def call(
    server: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 10.0,
    *,
    token: str | None = None,
    ca_file: str | None = None,
) -> Any:
    """One API call; the token comes from `token` or the BREAKWATER_TOKEN environment variable."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    token = token or os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        server.rstrip("/") + path, data=data, method=method, headers=headers
    )
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", exc.reason)
        except (ValueError, AttributeError):
            detail = exc.reason
        raise ApiError(f"{method} {path}: {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(
            f"cannot reach the Breakwater admin API at {server}: {reason}. "
            "Is `breakwater serve` running? Point --server at its admin port."
        ) from None


def weights_path(route: str, rule: int | None, expected_revision: int | None = None) -> str:
    query = {}
    if rule is not None:
        query["rule"] = str(rule)
    if expected_revision is not None:
        query["expectedRevision"] = str(expected_revision)
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    return f"/v1/routes/{urllib.parse.quote(route, safe='')}/weights{suffix}"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


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


def format_weights(answer: Any) -> str:
    result = read_answer(Weights, answer)
    total = sum(result.weights.values()) or 1
    rows = [
        [label, weight, f"{100 * weight / total:.1f}%"] for label, weight in result.weights.items()
    ]
    head = (
        f"route {result.route} rule {result.rule} "
        f"(from {result.source}, revision {result.revision})"
    )
    return head + "\n" + table(["backend", "weight", "share"], rows)


def format_status(answer: Any) -> str:
    result = read_answer(StatusResponse, answer)
    rows = [
        [
            proxy.node_id,
            proxy.node_cluster,
            proxy.protocol,
            state.type,
            state.state,
            state.sent_version or "-",
            state.acked_version or "-",
            state.nack_message,
        ]
        for proxy in result.proxies
        for state in proxy.types
    ]
    lines = [
        f"config version {result.config_version}, policy version {result.policy_version}, "
        f"state revision {result.state_revision}, {len(result.proxies)} proxies"
    ]
    if rows:
        lines.append(
            table(["proxy", "cluster", "xds", "type", "state", "sent", "acked", "nack"], rows)
        )
    lines.extend(_format_replicas(result))
    for error in result.load_errors:
        lines.append(f"policy error (last good config still serving): {error}")
    for dropped in result.dropped_overrides:
        lines.append(f"dropped override {dropped.route} rule {dropped.rule}: {dropped.reason}")
    return "\n".join(lines)


def _format_replicas(result: StatusResponse) -> list[str]:
    """The store's health, and every replica with what it serves (`*` marks a skew from this one)."""
    lines: list[str] = []
    store = result.store
    if not store.available:
        lines.append(
            f"store {store.backend or '?'} UNAVAILABLE: {store.error or 'no answer'}; "
            "writes are refused, the last state read keeps serving"
        )
    replicas = result.replicas
    shared = (store.backend or "").startswith("etcd://")
    if not replicas or (len(replicas) == 1 and not shared):
        return lines  # one process on its own store: the header line says it all
    mine = next((r for r in replicas if r.is_self), None)
    rows = [_replica_row(replica, mine) for replica in replicas]
    noun = "replica" if len(replicas) == 1 else "replicas"
    lines.append(f"{len(replicas)} control plane {noun}:")
    lines.append(table(["replica", "xds", "admin", "policy", "revision", "proxies"], rows))
    return lines


def _replica_row(replica: Replica, mine: Replica | None) -> list[str]:
    policy = replica.policy_version or "-"
    revision = str(replica.state_revision)
    if not replica.is_self:
        if mine is None or replica.policy_version != mine.policy_version:
            policy += " *"
        if mine is None or replica.state_revision != mine.state_revision:
            revision += " *"
    return [
        replica.id + (" (this)" if replica.is_self else ""),
        replica.xds_address or "-",
        replica.admin_address or "-",
        policy,
        revision,
        ",".join(replica.proxies) or "-",
    ]


def format_policies(answer: Any) -> str:
    result = read_answer(PoliciesResponse, answer)
    rows = [
        [
            p.kind,
            p.name,
            "valid" if p.valid else "INVALID",
            ",".join(p.services) or "-",
            ",".join(p.proxies) or "-",
            f"{p.file}:{p.line}",
        ]
        for p in result.policies
    ]
    lines = [table(["kind", "name", "state", "services", "proxies", "source"], rows)]
    for p in result.policies:
        lines.extend(f"  {error}" for error in p.errors)
    return "\n".join(lines)
