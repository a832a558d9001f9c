"""Registered instances on etcd: one key per instance, under a lease of its TTL.

    <prefix>/state/instances/<service>/<endpoint>   the instance as JSON, attached to its lease

etcd, not a replica, removes an instance that is not renewed: its lease
expires, the key goes with it, and every replica's watch sees the state
change and reads it again. A renewal is a keep-alive of the lease, which
writes nothing (no revision, no watch event, no reload anywhere), so any
replica can renew an instance another registered. A registration, a change
or a deregistration (whose lease is the drain time) takes a new lease; the
old one, holding no key any more, runs out by itself. Removing an instance
revokes its lease, which deletes the key.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.parse
from dataclasses import replace
from typing import Any

from breakwater.controlplane.state.etcd.connection import EtcdConnection
from breakwater.controlplane.state.instances import Instance
from breakwater.controlplane.state.store import StoreError, put_instances_one_by_one

LEASE_READS = 64
"""Lease reads in flight at once when instances are listed."""


class EtcdInstances:
    """The instance half of `EtcdStore`; it supplies the connection, the prefix and `_own`."""

    _connection: EtcdConnection
    _instances_prefix: bytes

    def _marker_put(self, client: Any) -> Any:
        raise NotImplementedError

    def _own(self, responses: list[Any]) -> int:
        raise NotImplementedError

    def _instance_key(self, service: str, endpoint: str) -> bytes:
        quoted = f"{urllib.parse.quote(service, safe='')}/{urllib.parse.quote(endpoint, safe='')}"
        return self._instances_prefix + quoted.encode()

    def instance_of(self, kv: Any) -> Instance:
        name = bytes(kv.key).decode(errors="replace")
        try:
            data = json.loads(kv.value)
            instance = Instance.from_json(data, int(kv.mod_revision))
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"etcd holds an unreadable instance at {name}: {exc}") from exc
        return replace(instance, lease=int(kv.lease))

    async def put_instance(self, instance: Instance) -> Instance:
        ttl = max(1, math.ceil(instance.expires_at - time.time()))
        action = f"register instance {instance.endpoint} of {instance.service}"
        lease = await self._connection.call(action, lambda c: c.lease(ttl))
        key = self._instance_key(instance.service, instance.endpoint)
        saved = replace(instance, lease=int(lease.id))
        value = json.dumps(saved.to_json(), sort_keys=True).encode()

        async def write(client: Any) -> tuple[bool, list[Any]]:
            tx = client.transactions
            result: tuple[bool, list[Any]] = await client.transaction(
                compare=[],
                success=[tx.put(key, value, lease=saved.lease), self._marker_put(client)],
                failure=[],
            )
            return result

        # The old lease, if any, holds no key now and runs out by itself.
        _, responses = await self._connection.call(action, write)
        return replace(saved, revision=self._own(responses))

    async def put_instances(
        self, instances: list[Instance], changes: list[dict[str, Any]], keep: int
    ) -> list[Instance]:
        """Each under its own lease (etcd writes are quorum writes either way)."""
        return await put_instances_one_by_one(
            self.put_instance, self.append_change, instances, changes, keep
        )

    async def append_change(self, entry: dict[str, Any], keep: int) -> None:
        raise NotImplementedError

    async def renew_instances(self, instances: list[Instance]) -> list[bool]:
        """Keep-alives of the instances' leases, side by side."""
        return list(await asyncio.gather(*(self._keep_alive(i) for i in instances)))

    async def lease_times(self, instances: list[Instance]) -> list[Instance]:
        """Each serving instance's last renewal and expiry, from its lease.

        A keep-alive on any replica sets the lease's remaining TTL back to its granted TTL
        and writes nothing, so the key's value still holds the time of the registration and
        a replica that did not renew knows no better. The lease does: it expires in
        `TTL` s, so it was last renewed `grantedTTL - TTL` s ago (to the second: etcd counts
        whole seconds). A time this replica knows more closely (it did the renewal) is
        kept. Reads are side by side, at most `LEASE_READS` at a time."""
        now = time.time()
        gate = asyncio.Semaphore(LEASE_READS)

        async def one(instance: Instance) -> Instance:
            if not instance.lease or instance.draining:
                return instance  # a drain's end is written with it
            async with gate:
                info = await self._connection.call(
                    f"read the lease of instance {instance.endpoint} of {instance.service}",
                    lambda c: c.get_lease_info(instance.lease, keys=False),
                )
            remaining, granted = int(info.TTL), int(info.grantedTTL)
            if remaining <= 0:
                return instance  # expired: etcd removes the key, and the watch tells
            renewed = now + remaining - granted
            if renewed <= instance.renewed_at + 1.0:
                return instance
            return replace(instance, renewed_at=renewed, expires_at=now + remaining)

        return list(await asyncio.gather(*(one(i) for i in instances)))

    async def _keep_alive(self, instance: Instance) -> bool:
        if not instance.lease:
            return False
        reply = await self._connection.call(
            f"renew instance {instance.endpoint} of {instance.service}",
            lambda c: c.refresh_lease(instance.lease),
        )
        return reply is not None and int(reply.TTL) > 0

    async def delete_instance(self, service: str, endpoint: str) -> int:
        """Revoke the instance's lease, which deletes its key: a keep-alive of the lease then
        fails too, as for an instance that expired."""
        key = self._instance_key(service, endpoint)
        action = f"remove instance {endpoint} of {service}"
        found = await self._connection.call(action, lambda c: c.get(key))
        if found is None:
            return 0
        if not int(found.lease):  # written by hand, without a lease
            await self._connection.call(action, lambda c: c.delete(key))
            return int(found.header.revision)
        # etcd's answer to a revoke carries no revision: this replica's watch reads the state
        # again once, as after another replica's write.
        await self._connection.call(action, lambda c: c.revoke_lease(int(found.lease)))
        return int(found.header.revision)
