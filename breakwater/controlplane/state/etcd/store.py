"""`EtcdStore`: the `Store` protocol on etcd, plus the leases and registrations of replicas.

This is what the state means in etcd's terms: which key holds what, how a
compare-and-set becomes a transaction, and which revision a write reports.
Reaching etcd (and noticing that it cannot be reached) is the connection's
job, and following other writers is the watch's.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import AsyncGenerator
from functools import partial
from typing import Any

import aetcd  # type: ignore[import-untyped]

from breakwater.controlplane.state.etcd.access import EtcdAccess
from breakwater.controlplane.state.etcd.address import DEFAULT_PREFIX, EtcdAddress, parse_etcd_url
from breakwater.controlplane.state.etcd.connection import DEFAULT_TIMEOUT, EtcdConnection
from breakwater.controlplane.state.etcd.instances import EtcdInstances
from breakwater.controlplane.state.etcd.watch import watch_revisions
from breakwater.controlplane.state.instances import Instance
from breakwater.controlplane.state.store import (
    ClaimLost,
    Drain,
    RevisionConflict,
    StoreError,
    StoreHealth,
    StoreState,
    WeightOverride,
)

# The whole etcd backend logs under the package's name, whichever module speaks.
log = logging.getLogger(__name__.rpartition(".")[0])


class _LeaseIs(aetcd.transactions.BaseCompare):  # type: ignore[misc]
    """Compares a key's lease (a missing key has lease 0): aetcd has no such compare."""

    def build_compare(self, compare: Any) -> None:
        compare.target = aetcd.rpc.Compare.LEASE
        compare.lease = int(self.value)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise StoreError(f"etcd holds unreadable JSON at {what}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise StoreError(f"etcd holds {what} that is not a JSON object")
    return parsed


class EtcdStore(EtcdInstances):
    """The `Store` protocol on etcd, plus what the replicas need: a state watch and leases."""

    shared = True

    def __init__(
        self,
        endpoints: tuple[tuple[str, int], ...] | list[tuple[str, int]],
        prefix: str = DEFAULT_PREFIX,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        access: EtcdAccess | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.address = EtcdAddress(tuple(endpoints), "/" + prefix.strip("/"))
        root = self.address.prefix.rstrip("/") + "/"
        self._state_prefix = (root + "state/").encode()
        self._marker = (root + "state/revision").encode()
        self._weights_prefix = (root + "state/weights/").encode()
        self._rollouts_prefix = (root + "state/rollouts/").encode()
        self._drains_prefix = (root + "state/drains/").encode()
        self._instances_prefix = (root + "state/instances/").encode()
        self._leaders_prefix = (root + "leaders/").encode()
        self._history_prefix = (root + "history/").encode()
        self._replicas_prefix = (root + "replicas/").encode()
        self._fleet_prefix = (root + "fleet/").encode()
        self._connection = EtcdConnection(
            self.address.endpoints,
            timeout=timeout,
            state_read=lambda: bool(self.read_revision),
            access=access,
        )
        self.read_revision = 0
        """etcd's revision when the last successful `load` read the state: it holds everything up to it."""
        self.own_revisions: set[int] = set()
        """Revisions of the state writes made through this store, so a watcher can tell them apart."""
        self._held: dict[str, int] = {}
        """What this store last found it holds a claim on → the lease the claim key lives under."""

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = DEFAULT_TIMEOUT, access: EtcdAccess | None = None
    ) -> EtcdStore:
        try:
            address = parse_etcd_url(url)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        return cls(address.endpoints, address.prefix, timeout=timeout, access=access)

    def describe(self) -> str:
        return str(self.address)

    # --- what the connection knows ---------------------------------------------

    @property
    def timeout(self) -> float:
        """Seconds each call waits for etcd before it counts as unavailable."""
        return self._connection.timeout

    @property
    def endpoint(self) -> str:
        """The endpoint in use, or dialled next."""
        return self._connection.endpoint

    @property
    def available(self) -> bool:
        """False from a failed call until one succeeds: writes are refused meanwhile."""
        return self._connection.available

    @property
    def error(self) -> str | None:
        """What the failure of the current outage was, in a sentence."""
        return self._connection.error

    @property
    def unavailable_since(self) -> float | None:
        """Wall-clock time of the first failure of the current outage."""
        return self._connection.unavailable_since

    def health(self) -> StoreHealth:
        if self.available:
            return StoreHealth()
        return StoreHealth(
            False,
            self.error,
            self.unavailable_since,
            "refused until the store answers again; serving the last state read",
        )

    async def close(self) -> None:
        await self._connection.close()

    # --- keys ------------------------------------------------------------------

    def _weights_key(self, route: str, rule: int) -> bytes:
        return self._weights_prefix + f"{urllib.parse.quote(route, safe='')}/{rule}".encode()

    def _drain_key(self, service: str, endpoint: str) -> bytes:
        quoted = f"{urllib.parse.quote(service, safe='')}/{urllib.parse.quote(endpoint, safe='')}"
        return self._drains_prefix + quoted.encode()

    def _leader_key(self, what: str) -> bytes:
        return self._leaders_prefix + urllib.parse.quote(what, safe="").encode()

    def _claim_held(self, client: Any, claim: str | None) -> list[Any]:
        """The compare that a write for `claim` needs: its key still under the lease it was
        claimed with. Expired, revoked or taken by another replica, the write is not made."""
        if claim is None:
            return []
        lease = self._held.get(claim)
        if lease is None:
            raise ClaimLost(claim)
        compare: Any = _LeaseIs(self._leader_key(claim)) == lease
        return [compare]

    def _lost(self, claim: str | None, responses: list[Any]) -> bool:
        """Whether a failed write failed on its claim (its second read: the claim key)."""
        if claim is None:
            return False
        found = responses[1] if len(responses) > 1 else []
        if any(int(kv.lease) == self._held.get(claim) for _, kv in found):
            return False
        self._held.pop(claim, None)
        return True

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
        result = await self._connection.call(
            "read the state", lambda c: c.get_prefix(self._state_prefix, sort_target="key")
        )
        overrides: dict[tuple[str, int], WeightOverride] = {}
        rollouts: dict[str, dict[str, Any]] = {}
        rollout_revisions: dict[str, int] = {}
        drains: dict[tuple[str, str], Drain] = {}
        instances: dict[tuple[str, str], Instance] = {}
        revision = 0
        for kv in result:
            key = bytes(kv.key)
            revision = max(revision, int(kv.mod_revision))
            if key.startswith(self._drains_prefix):
                drain = self._drain_of(kv)
                drains[(drain.service, drain.endpoint)] = drain
                continue
            if key.startswith(self._instances_prefix):
                instance = self.instance_of(kv)
                instances[instance.key] = instance
                continue
            if key.startswith(self._rollouts_prefix):
                name = urllib.parse.unquote(key[len(self._rollouts_prefix) :].decode())
                rollouts[name] = _json_object(kv.value, key.decode(errors="replace"))
                rollout_revisions[name] = int(kv.mod_revision)
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
        return StoreState(overrides, drains, revision, rollouts, rollout_revisions, instances)

    @staticmethod
    def _drain_of(kv: Any) -> Drain:
        name = bytes(kv.key).decode(errors="replace")
        data = _json_object(kv.value, name)
        service, endpoint, by, at = (data.get(k) for k in ("service", "endpoint", "by", "at"))
        if not (isinstance(service, str) and isinstance(endpoint, str) and isinstance(by, str)):
            raise StoreError(f"etcd key {name} does not name its service, endpoint and who")
        if not isinstance(at, int | float):
            raise StoreError(f"etcd key {name} holds no time")
        return Drain(service, endpoint, by, float(at), int(kv.mod_revision))

    async def put_drain(self, drain: Drain, expected_revision: int | None = None) -> Drain:
        key = self._drain_key(drain.service, drain.endpoint)
        value = json.dumps(
            {"service": drain.service, "endpoint": drain.endpoint, "by": drain.by, "at": drain.at},
            sort_keys=True,
        ).encode()
        revision = await self._compare_and_write(
            key, value, expected_revision, f"save the drain of {drain.key}", drain.key
        )
        return Drain(drain.service, drain.endpoint, drain.by, drain.at, revision)

    async def delete_drain(
        self, service: str, endpoint: str, expected_revision: int | None = None
    ) -> int:
        key = self._drain_key(service, endpoint)
        what = f"{service}/{endpoint}"
        return await self._compare_and_write(
            key, None, expected_revision, f"remove the drain of {what}", what
        )

    async def _compare_and_write(
        self,
        key: bytes,
        value: bytes | None,
        expected: int | None,
        action: str,
        name: str,
        claim: str | None = None,
    ) -> int:
        """Every single-key write: put `value` at `key` (delete it when None) and touch the
        marker in one transaction that, with `expected`, needs the key's mod revision to still
        be it (0: absent), and with `claim`, needs this replica to still hold the claim."""

        async def write(client: Any) -> tuple[bool, list[Any]]:
            tx = client.transactions
            compare = [] if expected is None else [tx.mod(key) == expected]
            compare += self._claim_held(client, claim)
            change = tx.delete(key) if value is None else tx.put(key, value)
            failure = [tx.get(key)]
            if claim is not None:
                failure.append(tx.get(self._leader_key(claim)))
            result: tuple[bool, list[Any]] = await client.transaction(
                compare=compare, success=[change, self._marker_put(client)], failure=failure
            )
            return result

        succeeded, responses = await self._connection.call(action, write)
        if not succeeded:
            if self._lost(claim, responses):
                raise ClaimLost(claim or "")
            assert expected is not None
            raise RevisionConflict(name, expected, self._current_mod(responses))
        return self._own(responses)

    def _own(self, responses: list[Any]) -> int:
        """The revision a committed write made, remembered as this replica's own (its watch
        does not reload what this replica already applied)."""
        revision = self._committed_revision(responses)
        self.own_revisions.add(revision)
        return revision

    async def put_rollout(
        self,
        name: str,
        state: dict[str, Any],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> int:
        key = self._rollouts_prefix + urllib.parse.quote(name, safe="").encode()
        value = json.dumps(state, sort_keys=True).encode()
        return await self._compare_and_write(
            key, value, expected_revision, f"save the progress of rollout {name}",
            f"rollout {name}", claim,
        )  # fmt: skip

    async def append_change(self, entry: dict[str, Any], keep: int) -> None:
        """Keys sort by time (zero-padded nanoseconds), so the oldest are the first listed."""
        key = self._history_prefix + f"{time.time_ns():020d}-{id(entry) & 0xFFFF:04x}".encode()
        value = json.dumps(entry, sort_keys=True).encode()
        await self._connection.call("record a change", lambda c: c.put(key, value))
        keys = await self._connection.call(
            "list the history",
            lambda c: c.get_prefix(self._history_prefix, sort_target="key", keys_only=True),
        )
        for old in [bytes(kv.key) for kv in keys][:-keep] if keep else []:
            await self._connection.call("trim the history", partial(_delete, key=old))

    async def changes(self, limit: int) -> list[dict[str, Any]]:
        result = await self._connection.call(
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
        key = self._leader_key(what)

        async def write(client: Any) -> tuple[bool, list[Any]]:
            tx = client.transactions
            result: tuple[bool, list[Any]] = await client.transaction(
                compare=[tx.create(key) == 0],
                success=[tx.put(key, holder.encode(), lease=lease_id)],
                failure=[tx.get(key)],
            )
            return result

        succeeded, responses = await self._connection.call(f"claim {what}", write)
        if succeeded:
            self._held[what] = lease_id
            return holder
        found = responses[0] if responses else []
        current = next(((bytes(value).decode(), int(kv.lease)) for value, kv in found), None)
        if current is not None and current[0] == holder:
            self._held[what] = current[1]
            return holder
        self._held.pop(what, None)
        return current[0] if current is not None else holder

    async def put_weights(
        self,
        route: str,
        rule: int,
        weights: dict[str, int],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> WeightOverride:
        key = self._weights_key(route, rule)
        value = json.dumps(
            {"route": route, "rule": rule, "weights": weights}, sort_keys=True
        ).encode()
        revision = await self._compare_and_write(
            key, value, expected_revision, f"save the weights of {route}/{rule}",
            f"{route}/{rule}", claim,
        )  # fmt: skip
        return WeightOverride(route, rule, dict(weights), revision)

    async def delete_weights(
        self, route: str, rule: int | None = None, expected_revision: int | None = None
    ) -> int:
        if rule is not None:
            what = f"{route}/{rule}"
            key = self._weights_key(route, rule)
            action = f"remove the weights of {what}"
            return await self._compare_and_write(key, None, expected_revision, action, what)
        return await self._delete_route(route, expected_revision)

    async def _delete_route(self, route: str, expected_revision: int | None) -> int:
        """Every rule of a route; with a revision, only if none of them changed since it."""
        start = self._route_prefix(route)
        end = aetcd.utils.prefix_range_end(start)
        action = f"remove the weights of {route}"
        for _ in range(5):
            read_at: int | None = None
            if expected_revision is not None:
                found = await self._connection.call(action, lambda c: c.get_prefix(start))
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

            succeeded, responses = await self._connection.call(action, write)
            if succeeded:
                return self._own(responses)
        raise StoreError(f"cannot {action}: its rules kept changing; try again")

    # --- following other writers ---------------------------------------------------

    def watch_state(self, start_revision: int) -> AsyncGenerator[int, None]:
        """Yield the revision of every state change from `start_revision` on, in order.

        Ends when the connection is replaced (after a failure elsewhere);
        raises `StoreCompacted` when etcd no longer has `start_revision`, and
        `StoreError` when the stream breaks.
        """
        return watch_revisions(self._connection, self._state_prefix, start_revision)

    # --- replica registrations -------------------------------------------------------

    async def grant_lease(self, ttl: int) -> int:
        lease = await self._connection.call("take a lease", lambda c: c.lease(ttl))
        return int(lease.id)

    async def keep_alive(self, lease_id: int) -> int:
        """Refresh a lease; returns its new TTL, 0 when etcd no longer has it."""
        reply = await self._connection.call(
            "keep the lease alive", lambda c: c.refresh_lease(lease_id)
        )
        return 0 if reply is None else max(int(reply.TTL), 0)

    async def revoke_lease(self, lease_id: int) -> None:
        await self._connection.call("give the lease back", lambda c: c.revoke_lease(lease_id))

    async def put_replica(self, replica_id: str, info: dict[str, Any], lease_id: int) -> None:
        key = self._replicas_prefix + urllib.parse.quote(replica_id, safe="").encode()
        value = json.dumps(info, sort_keys=True).encode()
        await self._connection.call(
            "register this replica", lambda c: c.put(key, value, lease=lease_id)
        )

    async def list_replicas(self) -> list[dict[str, Any]]:
        result = await self._connection.call(
            "list the replicas", lambda c: c.get_prefix(self._replicas_prefix)
        )
        replicas = []
        for kv in result:
            try:
                replicas.append(_json_object(kv.value, bytes(kv.key).decode(errors="replace")))
            except StoreError as exc:
                log.warning("ignoring a replica registration: %s", exc)
        return replicas

    # --- each replica's share of the fleet's reports ------------------------------------

    async def put_fleet_share(self, replica_id: str, share: bytes, lease_id: int) -> None:
        """This replica's share, under its registration lease: it leaves with the replica."""
        key = self._fleet_prefix + urllib.parse.quote(replica_id, safe="").encode()
        await self._connection.call(
            "publish this replica's fleet share", lambda c: c.put(key, share, lease=lease_id)
        )

    async def fleet_shares(self) -> dict[str, tuple[int, bytes]]:
        """Every replica's share: replica id → (its key's mod revision, the bytes)."""
        result = await self._connection.call(
            "read the fleet shares", lambda c: c.get_prefix(self._fleet_prefix)
        )
        return {
            urllib.parse.unquote(bytes(kv.key)[len(self._fleet_prefix) :].decode()): (
                int(kv.mod_revision),
                bytes(kv.value),
            )
            for kv in result
        }


async def _delete(client: Any, *, key: bytes) -> Any:
    return await client.delete(key)
