"""The etcd v3 backend of the state store: one state shared by several replicas.

`--state etcd://host:port[,host:port...]/prefix` selects it. Keys under the
prefix (default `/breakwater`):

    <prefix>/state/revision                  touched by every state write, in the same transaction
    <prefix>/state/weights/<route>/<rule>    {"route", "rule", "weights"}; its mod revision is the
                                             override's revision (what compare-and-set compares)
    <prefix>/replicas/<id>                   one running replica, attached to its lease

Revisions are etcd's. An override's revision is its key's `mod_revision`, so
compare-and-set is a transaction comparing that mod revision (0: the key must
not exist). The state revision is the etcd revision at which the last state
write committed (the header revision that write returned); it is read as the
mod revision of `state/revision`. The header revision of a plain read is not
used because replica registrations move etcd's revision too, and two
replicas holding the same overrides must report the same revision.

A write returns only after etcd answered that it committed it. When etcd
cannot be reached, every call raises `StoreError` at once (connection
refused) or after `timeout` seconds (no quorum, a partition), and the store
remembers that it is unavailable until a call succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.parse
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import aetcd  # type: ignore[import-untyped]

from breakwater.controlplane.state.store import (
    RevisionConflict,
    StoreError,
    StoreState,
    WeightOverride,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEME = "etcd://"
DEFAULT_PORT = 2379
DEFAULT_PREFIX = "/breakwater"
DEFAULT_TIMEOUT = 3.0

# A channel whose etcd went away retries its connection quickly instead of
# backing off for up to two minutes (gRPC's default), so a replica notices
# within a second that etcd is back.
_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.min_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 1000,
}

# Errors that say nothing about etcd's reachability: the request itself was wrong.
_REQUEST_ERRORS: tuple[type[BaseException], ...] = (
    aetcd.InvalidArgumentError,
    aetcd.PreconditionFailedError,
)


class StoreCompacted(StoreError):
    """A watch asked for revisions etcd has compacted away; read the whole state instead."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(
            f"etcd compacted its history up to revision {compacted}; changes since revision "
            f"{requested} cannot be replayed, the whole state has to be read again"
        )
        self.requested = requested
        self.compacted = compacted


@dataclass(frozen=True)
class EtcdAddress:
    endpoints: tuple[tuple[str, int], ...]
    prefix: str

    def __str__(self) -> str:
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.endpoints)
        return f"{SCHEME}{hosts}{self.prefix}"


def is_etcd_url(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_etcd_url(url: str) -> EtcdAddress:
    """`etcd://host[:port][,host[:port]...][/prefix]`; the port defaults to 2379."""
    if not is_etcd_url(url):
        raise ValueError(
            f"{url!r} is not an etcd URL: write etcd://HOST:PORT[,HOST:PORT...]/PREFIX"
        )
    rest = url[len(SCHEME) :]
    hosts, slash, path = rest.partition("/")
    prefix = "/" + path.strip("/") if slash and path.strip("/") else DEFAULT_PREFIX
    endpoints: list[tuple[str, int]] = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):
            host, bracket, tail = item[1:].partition("]")
            if not bracket or (tail and not tail.startswith(":")):
                raise ValueError(f"bad etcd endpoint {item!r} in {url!r}")
            port_text = tail[1:]
        else:
            host, _, port_text = item.partition(":")
        if not host:
            raise ValueError(f"etcd endpoint {item!r} in {url!r} has no host")
        try:
            port = int(port_text) if port_text else DEFAULT_PORT
        except ValueError:
            raise ValueError(f"etcd endpoint {item!r} in {url!r}: port is not a number") from None
        if not 0 < port < 65536:
            raise ValueError(f"etcd endpoint {item!r} in {url!r}: port out of range")
        endpoints.append((host, port))
    if not endpoints:
        raise ValueError(f"{url!r} names no etcd endpoint: write etcd://HOST:PORT/PREFIX")
    return EtcdAddress(tuple(endpoints), prefix)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise StoreError(f"etcd holds unreadable JSON at {what}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise StoreError(f"etcd holds {what} that is not a JSON object")
    return parsed


class EtcdStore:
    """The `Store` protocol on etcd, plus what the replicas need: a state watch and leases."""

    shared = True

    def __init__(
        self,
        endpoints: tuple[tuple[str, int], ...] | list[tuple[str, int]],
        prefix: str = DEFAULT_PREFIX,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.address = EtcdAddress(tuple(endpoints), "/" + prefix.strip("/"))
        self.timeout = timeout
        root = self.address.prefix.rstrip("/") + "/"
        self._state_prefix = (root + "state/").encode()
        self._marker = (root + "state/revision").encode()
        self._weights_prefix = (root + "state/weights/").encode()
        self._rollouts_prefix = (root + "state/rollouts/").encode()
        self._leaders_prefix = (root + "leaders/").encode()
        self._history_prefix = (root + "history/").encode()
        self._replicas_prefix = (root + "replicas/").encode()
        self._client: Any = None
        self._endpoint = 0
        self._retiring: dict[Any, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        self.available = True
        self.error: str | None = None
        self.unavailable_since: float | None = None
        """Wall-clock time of the first failure of the current outage."""
        self.read_revision = 0
        """etcd's revision when the last successful `load` read the state: it holds everything up to it."""
        self.own_revisions: set[int] = set()
        """Revisions of the state writes made through this store, so a watcher can tell them apart."""

    @classmethod
    def from_url(cls, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> EtcdStore:
        try:
            address = parse_etcd_url(url)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        return cls(address.endpoints, address.prefix, timeout=timeout)

    def describe(self) -> str:
        return str(self.address)

    @property
    def endpoint(self) -> str:
        host, port = self.address.endpoints[self._endpoint % len(self.address.endpoints)]
        return f"{host}:{port}"

    # --- connection ----------------------------------------------------------

    def _current(self) -> Any:
        if self._closed:
            raise StoreError("the etcd store is closed")
        if self._client is None:
            host, port = self.address.endpoints[self._endpoint % len(self.address.endpoints)]
            # aetcd's timeout is the gRPC deadline of each call (a float works).
            self._client = aetcd.Client(
                host=host, port=port, timeout=self.timeout, options=dict(_CHANNEL_OPTIONS)
            )
        return self._client

    def _mark_ok(self) -> None:
        if not self.available:
            log.warning(
                "etcd at %s answers again (unavailable for %.1f s); writes are accepted",
                self.endpoint,
                time.time() - (self.unavailable_since or time.time()),
            )
        self.available = True
        self.error = None
        self.unavailable_since = None

    def _failure(self, client: Any, action: str, exc: BaseException) -> StoreError:
        """Record that etcd failed; drop the connection so the next call dials afresh (next endpoint)."""
        endpoint = self.endpoint
        if isinstance(exc, aetcd.ConnectionTimeoutError | aetcd.WatchTimeoutError | TimeoutError):
            detail = (
                f"etcd at {endpoint} did not answer within {self.timeout:g} s (no quorum, or a "
                "network partition?)"
            )
        else:
            reason = str(exc).strip() or "connection closed"
            detail = f"etcd at {endpoint} is unreachable ({reason})"
        message = f"cannot {action}: {detail}"
        if isinstance(exc, _REQUEST_ERRORS):
            return StoreError(f"cannot {action}: etcd refused the request: {exc}")
        if self.available:
            if self.read_revision:
                log.error(
                    "%s; serving continues from the last state read, writes are refused", message
                )
            else:
                log.error("%s", message)
            self.unavailable_since = time.time()
        self.available = False
        self.error = message
        if client is not None and client is self._client:
            self._client = None
            self._endpoint += 1
            self._retire(client)
        return StoreError(message)

    def _retire(self, client: Any) -> None:
        """Close a replaced connection once the calls still on it have run into their deadline.

        Closing it at once would cancel them, and a write cut short that way
        cannot say whether etcd committed it.
        """
        loop = asyncio.get_running_loop()
        self._retiring[client] = loop.call_later(self.timeout + 0.5, self._close_later, client)

    def _close_later(self, client: Any) -> None:
        if self._retiring.pop(client, None) is None:
            return
        task = asyncio.get_running_loop().create_task(self._close_client(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_client(client: Any) -> None:
        with contextlib.suppress(Exception):
            await client.close()

    @staticmethod
    def _cancelled_from_outside() -> bool:
        """Whether the running task itself is being cancelled (not just a call inside it)."""
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0

    async def _call(self, action: str, operation: Callable[[Any], Awaitable[T]]) -> T:
        client = self._current()
        try:
            result = await operation(client)
        except (aetcd.ClientError, TimeoutError) as exc:
            raise self._failure(client, action, exc) from exc
        except asyncio.CancelledError as exc:
            # gRPC cancels the calls of a channel that is closed under them.
            if self._cancelled_from_outside():
                raise
            raise self._failure(client, action, exc) from exc
        self._mark_ok()
        return result

    async def close(self) -> None:
        self._closed = True
        clients = [self._client, *self._retiring]
        self._client = None
        for handle in self._retiring.values():
            handle.cancel()
        self._retiring.clear()
        await asyncio.gather(
            *(self._close_client(c) for c in clients if c is not None), *self._closing
        )

    # --- keys ------------------------------------------------------------------

    def _weights_key(self, route: str, rule: int) -> bytes:
        return self._weights_prefix + f"{urllib.parse.quote(route, safe='')}/{rule}".encode()

    def _route_prefix(self, route: str) -> bytes:
        return self._weights_prefix + f"{urllib.parse.quote(route, safe='')}/".encode()

    def _marker_put(self, client: Any) -> Any:
        return client.transactions.put(self._marker, json.dumps({"at": time.time()}).encode())

    @staticmethod
    def _committed_revision(responses: list[Any]) -> int:
        """The revision of a transaction: the header of its last operation, the marker put."""
        return int(responses[-1].response_put.header.revision)

    @staticmethod
    def _current_mod(responses: list[Any]) -> int:
        """The mod revision a failed compare-and-set found (0: the key does not exist)."""
        found = responses[0] if responses else []
        return max((int(kv.mod_revision) for _, kv in found), default=0)

    # --- the Store protocol --------------------------------------------------------

    async def load(self) -> StoreState:
        result = await self._call(
            "read the state", lambda c: c.get_prefix(self._state_prefix, sort_target="key")
        )
        overrides: dict[tuple[str, int], WeightOverride] = {}
        rollouts: dict[str, dict[str, Any]] = {}
        revision = 0
        for kv in result:
            key = bytes(kv.key)
            revision = max(revision, int(kv.mod_revision))
            if key.startswith(self._rollouts_prefix):
                name = urllib.parse.unquote(key[len(self._rollouts_prefix) :].decode())
                rollouts[name] = _json_object(kv.value, key.decode(errors="replace"))
                continue
            if key == self._marker or not key.startswith(self._weights_prefix):
                continue
            name = key.decode(errors="replace")
            data = _json_object(kv.value, name)
            weights = data.get("weights")
            if not isinstance(weights, dict):
                raise StoreError(f"etcd key {name} holds no weights mapping")
            route, rule = str(data.get("route", "")), data.get("rule")
            if not route or not isinstance(rule, int):
                raise StoreError(f"etcd key {name} does not name its route and rule")
            overrides[(route, rule)] = WeightOverride(
                route, rule, {str(k): int(v) for k, v in weights.items()}, int(kv.mod_revision)
            )
        self.read_revision = int(result.header.revision)
        self.own_revisions = {r for r in self.own_revisions if r > self.read_revision}
        return StoreState(overrides=overrides, revision=revision, rollouts=rollouts)

    async def put_rollout(self, name: str, state: dict[str, Any]) -> int:
        key = self._rollouts_prefix + urllib.parse.quote(name, safe="").encode()
        value = json.dumps(state, sort_keys=True).encode()

        async def write(client: Any) -> tuple[bool, list[Any]]:
            tx = client.transactions
            result: tuple[bool, list[Any]] = await client.transaction(
                compare=[], success=[tx.put(key, value), self._marker_put(client)], failure=[]
            )
            return result

        _, responses = await self._call(f"save the progress of rollout {name}", write)
        revision = self._committed_revision(responses)
        self.own_revisions.add(revision)
        return revision

    async def append_change(self, entry: dict[str, Any], keep: int) -> None:
        """Keys sort by time (zero-padded nanoseconds), so the oldest are the first listed."""
        key = self._history_prefix + f"{time.time_ns():020d}-{id(entry) & 0xFFFF:04x}".encode()
        value = json.dumps(entry, sort_keys=True).encode()
        await self._call("record a change", lambda c: c.put(key, value))
        keys = await self._call(
            "list the history",
            lambda c: c.get_prefix(self._history_prefix, sort_target="key", keys_only=True),
        )
        for old in [bytes(kv.key) for kv in keys][:-keep] if keep else []:
            await self._call("trim the history", partial(_delete, key=old))

    async def changes(self, limit: int) -> list[dict[str, Any]]:
        result = await self._call(
            "read the history",
            lambda c: c.get_prefix(self._history_prefix, sort_target="key"),
        )
        entries = [_json_object(kv.value, bytes(kv.key).decode(errors="replace")) for kv in result]
        return entries[-limit:]

    async def claim(self, what: str, holder: str, lease_id: int) -> str:
        """Become the one replica that does `what`, unless another holds it; returns the holder.

        The claim lives as long as the lease (the replica's registration lease), so a replica
        that dies gives it up within the lease's time to live.
        """
        key = self._leaders_prefix + urllib.parse.quote(what, safe="").encode()

        async def write(client: Any) -> tuple[bool, list[Any]]:
            tx = client.transactions
            result: tuple[bool, list[Any]] = await client.transaction(
                compare=[tx.create(key) == 0],
                success=[tx.put(key, holder.encode(), lease=lease_id)],
                failure=[tx.get(key)],
            )
            return result

        succeeded, responses = await self._call(f"claim {what}", write)
        if succeeded:
            return holder
        found = responses[0] if responses else []
        return next((bytes(value).decode() for value, _ in found), holder)

    async def put_weights(
        self, route: str, rule: int, weights: dict[str, int], expected_revision: int | None = None
    ) -> WeightOverride:
        key = self._weights_key(route, rule)
        value = json.dumps(
            {"route": route, "rule": rule, "weights": weights}, sort_keys=True
        ).encode()

        async def write(client: Any) -> tuple[bool, list[Any]]:
            tx = client.transactions
            compare = [] if expected_revision is None else [tx.mod(key) == expected_revision]
            result: tuple[bool, list[Any]] = await client.transaction(
                compare=compare,
                success=[tx.put(key, value), self._marker_put(client)],
                failure=[tx.get(key)],
            )
            return result

        succeeded, responses = await self._call(f"save the weights of {route}/{rule}", write)
        if not succeeded:
            assert expected_revision is not None
            raise RevisionConflict(
                f"{route}/{rule}", expected_revision, self._current_mod(responses)
            )
        revision = self._committed_revision(responses)
        self.own_revisions.add(revision)
        return WeightOverride(route, rule, dict(weights), revision)

    async def delete_weights(
        self, route: str, rule: int | None = None, expected_revision: int | None = None
    ) -> int:
        if rule is not None:
            return await self._delete_key(route, rule, expected_revision)
        return await self._delete_route(route, expected_revision)

    async def _delete_key(self, route: str, rule: int, expected_revision: int | None) -> int:
        key = self._weights_key(route, rule)

        async def write(client: Any) -> tuple[bool, list[Any]]:
            tx = client.transactions
            compare = [] if expected_revision is None else [tx.mod(key) == expected_revision]
            result: tuple[bool, list[Any]] = await client.transaction(
                compare=compare,
                success=[tx.delete(key), self._marker_put(client)],
                failure=[tx.get(key)],
            )
            return result

        succeeded, responses = await self._call(f"remove the weights of {route}/{rule}", write)
        if not succeeded:
            assert expected_revision is not None
            raise RevisionConflict(
                f"{route}/{rule}", expected_revision, self._current_mod(responses)
            )
        revision = self._committed_revision(responses)
        self.own_revisions.add(revision)
        return revision

    async def _delete_route(self, route: str, expected_revision: int | None) -> int:
        """Every rule of a route; with a revision, only if none of them changed since it."""
        start = self._route_prefix(route)
        end = aetcd.utils.prefix_range_end(start)
        action = f"remove the weights of {route}"
        for _ in range(5):
            read_at: int | None = None
            if expected_revision is not None:
                found = await self._call(action, lambda c: c.get_prefix(start))
                current = max((int(kv.mod_revision) for kv in found), default=0)
                if current != expected_revision:
                    raise RevisionConflict(route, expected_revision, current)
                read_at = int(found.header.revision)

            async def write(client: Any, read_at: int | None = read_at) -> tuple[bool, list[Any]]:
                tx = client.transactions
                # With a revision: no key of the route was written after the read above.
                compare = [] if read_at is None else [tx.mod(start, end) < read_at + 1]
                result: tuple[bool, list[Any]] = await client.transaction(
                    compare=compare,
                    success=[tx.delete(start, end), self._marker_put(client)],
                    failure=[],
                )
                return result

            succeeded, responses = await self._call(action, write)
            if succeeded:
                revision = self._committed_revision(responses)
                self.own_revisions.add(revision)
                return revision
        raise StoreError(f"cannot {action}: its rules kept changing; try again")

    # --- following other writers ---------------------------------------------------

    async def watch_state(self, start_revision: int) -> AsyncGenerator[int, None]:
        """Yield the revision of every state change from `start_revision` on, in order.

        Ends when the connection is replaced (after a failure elsewhere);
        raises `StoreCompacted` when etcd no longer has `start_revision`, and
        `StoreError` when the stream breaks.
        """
        client = self._current()
        action = "watch the state"
        try:
            watch = await client.watch_prefix(self._state_prefix, start_revision=start_revision)
        except aetcd.RevisionCompactedError as exc:
            raise StoreCompacted(start_revision, int(exc.compacted_revision)) from exc
        except (aetcd.ClientError, TimeoutError) as exc:
            raise self._failure(client, action, exc) from exc
        try:
            async for event in watch:
                yield int(event.kv.mod_revision)
        except aetcd.RevisionCompactedError as exc:
            raise StoreCompacted(start_revision, int(exc.compacted_revision)) from exc
        except (aetcd.ClientError, TimeoutError) as exc:
            raise self._failure(client, action, exc) from exc
        finally:
            with contextlib.suppress(Exception):
                await watch.cancel()

    # --- replica registrations -------------------------------------------------------

    async def grant_lease(self, ttl: int) -> int:
        lease = await self._call("take a lease", lambda c: c.lease(ttl))
        return int(lease.id)

    async def keep_alive(self, lease_id: int) -> int:
        """Refresh a lease; returns its new TTL, 0 when etcd no longer has it."""
        reply = await self._call("keep the lease alive", lambda c: c.refresh_lease(lease_id))
        return 0 if reply is None else max(int(reply.TTL), 0)

    async def revoke_lease(self, lease_id: int) -> None:
        await self._call("give the lease back", lambda c: c.revoke_lease(lease_id))

    async def put_replica(self, replica_id: str, info: dict[str, Any], lease_id: int) -> None:
        key = self._replicas_prefix + urllib.parse.quote(replica_id, safe="").encode()
        value = json.dumps(info, sort_keys=True).encode()
        await self._call("register this replica", lambda c: c.put(key, value, lease=lease_id))

    async def list_replicas(self) -> list[dict[str, Any]]:
        result = await self._call(
            "list the replicas", lambda c: c.get_prefix(self._replicas_prefix)
        )
        replicas = []
        for kv in result:
            try:
                replicas.append(_json_object(kv.value, bytes(kv.key).decode(errors="replace")))
            except StoreError as exc:
                log.warning("ignoring a replica registration: %s", exc)
        return replicas


async def _delete(client: Any, *, key: bytes) -> Any:
    return await client.delete(key)


__all__ = [
    "DEFAULT_PREFIX",
    "EtcdAddress",
    "EtcdStore",
    "StoreCompacted",
    "is_etcd_url",
    "parse_etcd_url",
]
