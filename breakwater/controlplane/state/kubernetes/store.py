"""`KubernetesStore`: the `Store` protocol on the API server, so a cluster needs no extra etcd.

Two ConfigMaps in the control plane's namespace hold everything:

    breakwater-state     revision       the store's revision: one more on every state write
                         weights.json   {"<route>/<rule>": {"route", "rule", "weights", "revision"}}
                         drains.json    {"<service>/<endpoint>": {"service", "endpoint", "by", "at",
                                         "revision"}}
                         rollouts.json  {"<name>": {"state": {...}, "revision"}}
                         instances.json {"<service>/<endpoint>": {registered instance, "revision"}}
                         writer         which store made the last write (its watch skips its own)
    breakwater-history   history.json   the newest changes, oldest first

Every write reads the ConfigMap, applies the change (checking the entry's own revision when
the caller names one, exactly as SQLite does inside its transaction) and replaces it with
the resourceVersion it read. When another replica wrote in between the API server answers
409 and the write starts again from a fresh read, so a compare-and-set that succeeds saw
the latest state, and the revisions are the same numbers whichever replica writes.

A write made for a claim (driving one rollout) is made only while `holds(claim)` says this
replica holds it: on Kubernetes the Lease's holder holds every claim (`lease.py`), and it
stops counting itself the holder a third of a lease duration before another may take over.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from breakwater.controlplane.kubernetes.forbidden import UNREACHABLE, refusal
from breakwater.controlplane.state.instances import Instance
from breakwater.controlplane.state.kubernetes.fleet_shares import FleetShares
from breakwater.controlplane.state.store import (
    ClaimLost,
    Drain,
    RevisionConflict,
    StoreError,
    StoreHealth,
    StoreState,
    WeightOverride,
    put_instances_one_by_one,
)

log = logging.getLogger(__name__)

STATE_NAME = "breakwater-state"
HISTORY_NAME = "breakwater-history"
INSTANCES = "instances.json"
"""Registered instances (VMs beside the cluster; pods come from EndpointSlices): a renewal is a
write of the ConfigMap, so this store suits tens of instances, not thousands."""
SIZE_LIMIT = 900 * 1024
"""Bytes of data a ConfigMap may hold here: the API server refuses objects over 1 MiB."""
ATTEMPTS = 20
"""Fresh reads a write makes while other replicas keep writing first."""
RETRY = 0.5
"""Seconds between two tries of a broken watch."""

_T = TypeVar("_T")


def _load(data: dict[str, str], key: str, where: str) -> dict[str, Any]:
    text = data.get(key)
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"ConfigMap {where} holds unreadable JSON in {key}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise StoreError(f"ConfigMap {where} holds {key} that is not a JSON object")
    return parsed


class KubernetesStore:
    """The `Store` protocol on two ConfigMaps of one namespace."""

    shared = True

    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        *,
        holds: Callable[[str], bool] = lambda claim: True,
        name: str = STATE_NAME,
        history_name: str = HISTORY_NAME,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.history_name = history_name
        self._holds = holds
        self.fleet = FleetShares(client, namespace)
        self._error: str | None = None
        self._since: float | None = None
        self.writer = secrets.token_hex(8)
        """Written beside every change (`writer`), so this store's watch tells other replicas'
        writes from its own whichever arrives first, the watch event or the write's answer."""

    def describe(self) -> str:
        return f"kubernetes:configmap/{self.namespace}/{self.name}"

    def health(self) -> StoreHealth:
        if self._error is None:
            return StoreHealth()
        return StoreHealth(
            False, self._error, self._since,
            "refused until the API server answers again; serving the last state read",
        )  # fmt: skip

    async def close(self) -> None:
        """Takes this replica's fleet share away; the client belongs to whoever made it."""
        await self.fleet.remove_mine()

    # --- each replica's share of the fleet's reports (fleet/sharing.py) ---------------

    async def put_fleet_share(self, replica_id: str, share: bytes, lease_id: int) -> None:
        """`lease_id` is etcd's idea; a share here is forgotten by its age instead."""
        await self.fleet.put(replica_id, share)

    async def fleet_shares(self) -> dict[str, tuple[int, bytes]]:
        return await self.fleet.read()

    # --- one ConfigMap, read and replaced ------------------------------------------

    def _failed(self, exc: Exception, verb: str) -> StoreError:
        if isinstance(exc, ApiError):
            sentence = refusal(exc, verb, "", "configmaps", self.namespace)
        else:
            sentence = f"cannot reach the API server to {verb} ConfigMap {self.name}: {exc}"
        if self._error is None:
            self._since = time.time()
        self._error = sentence
        return StoreError(sentence)

    def _ok(self) -> None:
        self._error = self._since = None

    async def _read(self, name: str) -> ConfigMap | None:
        try:
            found = await self.client.get(ConfigMap, name, namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                self._ok()
                return None
            raise self._failed(exc, "get") from exc
        except UNREACHABLE as exc:
            raise self._failed(exc, "get") from exc
        self._ok()
        return found

    async def _change(self, name: str, change: Callable[[dict[str, str]], _T]) -> _T:
        """Apply `change` to the ConfigMap's data and save it, compare-and-set on its
        resourceVersion; from a fresh read on every conflict. `change` may raise to refuse
        (a RevisionConflict), and then nothing is written."""
        for _ in range(ATTEMPTS):
            current = await self._read(name)
            data = dict(current.data or {}) if current is not None else {}
            result = change(data)
            data["writer"] = self.writer
            if sum(len(k) + len(v) for k, v in data.items()) > SIZE_LIMIT:
                raise StoreError(
                    f"ConfigMap {self.namespace}/{name} would grow past {SIZE_LIMIT // 1024} KiB, "
                    "more than the API server stores in one object; remove weight overrides, "
                    "drains or finished Rollouts that are no longer needed"
                )
            try:
                if current is None:
                    await self.client.create(
                        ConfigMap(
                            metadata=ObjectMeta(name=name, namespace=self.namespace), data=data
                        )
                    )
                else:
                    current.data = data
                    await self.client.replace(current)
            except ApiError as exc:
                if exc.status.code == 409:
                    continue  # someone wrote first (or created it): read again
                raise self._failed(exc, "create" if current is None else "update") from exc
            except UNREACHABLE as exc:
                raise self._failed(exc, "update") from exc
            self._ok()
            return result
        raise StoreError(
            f"ConfigMap {self.namespace}/{name} kept changing under this write; try again"
        )

    # --- the Store protocol ---------------------------------------------------------

    async def load(self) -> StoreState:
        current = await self._read(self.name)
        data = dict(current.data or {}) if current is not None else {}
        where = f"{self.namespace}/{self.name}"
        overrides = {}
        for item in _load(data, "weights.json", where).values():
            override = WeightOverride(
                str(item["route"]),
                int(item["rule"]),
                {str(k): int(v) for k, v in item["weights"].items()},
                int(item["revision"]),
            )
            overrides[(override.route, override.rule)] = override
        drains = {}
        for item in _load(data, "drains.json", where).values():
            drain = Drain(
                str(item["service"]), str(item["endpoint"]), str(item["by"]),
                float(item["at"]), int(item["revision"]),
            )  # fmt: skip
            drains[(drain.service, drain.endpoint)] = drain
        rollouts = _load(data, "rollouts.json", where)
        instances = {}
        for key, item in _load(data, INSTANCES, where).items():
            try:
                instance = Instance.from_json(item, int(item["revision"]))
            except (ValueError, TypeError, KeyError) as exc:
                raise StoreError(
                    f"the ConfigMap {where} holds an unreadable instance {key}: {exc}; "
                    "delete that entry of its instances.json"
                ) from exc
            instances[instance.key] = instance
        return StoreState(
            overrides,
            drains,
            int(data.get("revision", "0")),
            {name: dict(item["state"]) for name, item in rollouts.items()},
            {name: int(item["revision"]) for name, item in rollouts.items()},
            instances,
        )

    def _entry_change(
        self,
        key: str,
        entry_key: str,
        what: str,
        value: Callable[[int], dict[str, Any] | None],
        expected: int | None,
        claim: str | None = None,
        moves_when_absent: bool = True,
    ) -> Callable[[dict[str, str]], int]:
        """The change of one entry of one JSON map: checked against its revision, then set
        to `value(new revision)` (removed for None); returns the store's new revision."""

        def change(data: dict[str, str]) -> int:
            if claim is not None and not self._holds(claim):
                raise ClaimLost(claim)
            table = _load(data, key, f"{self.namespace}/{self.name}")
            current = int(table.get(entry_key, {}).get("revision", 0))
            if expected is not None and expected != current:
                raise RevisionConflict(what, expected, current)
            revision = int(data.get("revision", "0"))
            if not current and not moves_when_absent:
                return revision
            revision += 1
            new = value(revision)
            if new is None:
                table.pop(entry_key, None)
            else:
                table[entry_key] = {**new, "revision": revision}
            data[key] = json.dumps(table, sort_keys=True)
            data["revision"] = str(revision)
            return revision

        return change

    async def put_weights(
        self,
        route: str,
        rule: int,
        weights: dict[str, int],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> WeightOverride:
        revision = await self._change(
            self.name,
            self._entry_change(
                "weights.json", f"{route}/{rule}", f"{route}/{rule}",
                lambda _: {"route": route, "rule": rule, "weights": weights},
                expected_revision, claim,
            ),
        )  # fmt: skip
        return WeightOverride(route, rule, dict(weights), revision)

    async def delete_weights(
        self, route: str, rule: int | None = None, expected_revision: int | None = None
    ) -> int:
        if rule is not None:
            return await self._change(
                self.name,
                self._entry_change(
                    "weights.json", f"{route}/{rule}", f"{route}/{rule}", lambda _: None,
                    expected_revision, moves_when_absent=False,
                ),
            )  # fmt: skip

        def change(data: dict[str, str]) -> int:
            table = _load(data, "weights.json", f"{self.namespace}/{self.name}")
            mine = [k for k, v in table.items() if v.get("route") == route]
            current = max((int(table[k]["revision"]) for k in mine), default=0)
            if expected_revision is not None and expected_revision != current:
                raise RevisionConflict(route, expected_revision, current)
            revision = int(data.get("revision", "0"))
            if not mine:
                return revision
            for key in mine:
                del table[key]
            data["weights.json"] = json.dumps(table, sort_keys=True)
            data["revision"] = str(revision + 1)
            return revision + 1

        return await self._change(self.name, change)

    async def put_drain(self, drain: Drain, expected_revision: int | None = None) -> Drain:
        value = {
            "service": drain.service,
            "endpoint": drain.endpoint,
            "by": drain.by,
            "at": drain.at,
        }
        revision = await self._change(
            self.name,
            self._entry_change(
                "drains.json", drain.key, drain.key, lambda _: value, expected_revision
            ),
        )
        return Drain(drain.service, drain.endpoint, drain.by, drain.at, revision)

    async def delete_drain(
        self, service: str, endpoint: str, expected_revision: int | None = None
    ) -> int:
        key = f"{service}/{endpoint}"
        return await self._change(
            self.name,
            self._entry_change(
                "drains.json", key, key, lambda _: None, expected_revision,
                moves_when_absent=False,
            ),
        )  # fmt: skip

    async def put_rollout(
        self,
        name: str,
        state: dict[str, Any],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> int:
        return await self._change(
            self.name,
            self._entry_change(
                "rollouts.json", name, f"rollout {name}", lambda _: {"state": state},
                expected_revision, claim,
            ),
        )  # fmt: skip

    async def put_instance(self, instance: Instance) -> Instance:
        key = "/".join(instance.key)
        revision = await self._change(
            self.name,
            self._entry_change(INSTANCES, key, key, lambda _: instance.to_json(), None),
        )
        return dataclasses.replace(instance, revision=revision)

    async def put_instances(
        self, instances: list[Instance], changes: list[dict[str, Any]], keep: int
    ) -> list[Instance]:
        return await put_instances_one_by_one(
            self.put_instance, self.append_change, instances, changes, keep
        )

    async def lease_times(self, instances: list[Instance]) -> list[Instance]:
        """Every renewal writes its time into the ConfigMap, which the watch reads again."""
        return instances

    async def renew_instances(self, instances: list[Instance]) -> list[bool]:
        """All renewals in one write; like SQLite's, they do not move the store's revision
        (nothing served changed)."""

        def change(data: dict[str, str]) -> list[bool]:
            table = _load(data, INSTANCES, f"{self.namespace}/{self.name}")
            found = []
            for instance in instances:
                key = "/".join(instance.key)
                if key in table:
                    table[key] = {**instance.to_json(), "revision": table[key]["revision"]}
                found.append(key in table)
            data[INSTANCES] = json.dumps(table, sort_keys=True)
            return found

        return await self._change(self.name, change)

    async def delete_instance(self, service: str, endpoint: str) -> int:
        key = f"{service}/{endpoint}"
        return await self._change(
            self.name,
            self._entry_change(INSTANCES, key, key, lambda _: None, None, moves_when_absent=False),
        )

    async def append_change(self, entry: dict[str, Any], keep: int) -> None:
        def change(data: dict[str, str]) -> None:
            text = data.get("history.json") or "[]"
            try:
                entries = json.loads(text)
            except ValueError:
                entries = []  # a history that cannot be read is started again, not kept broken
            entries = [*entries, entry][-keep:] if keep else []
            while entries and len(json.dumps(entries)) > SIZE_LIMIT:
                entries = entries[len(entries) // 10 + 1 :]
            data["history.json"] = json.dumps(entries, sort_keys=True)

        await self._change(self.history_name, change)

    async def changes(self, limit: int) -> list[dict[str, Any]]:
        current = await self._read(self.history_name)
        text = (current.data or {}).get("history.json", "[]") if current is not None else "[]"
        try:
            entries = json.loads(text)
        except ValueError as exc:
            raise StoreError(
                f"ConfigMap {self.namespace}/{self.history_name} holds unreadable history: {exc}"
            ) from exc
        return [e for e in entries if isinstance(e, dict)][-limit:] if limit else []

    # --- other replicas' writes ------------------------------------------------------

    def _others(self, configmap: ConfigMap) -> bool:
        return (configmap.data or {}).get("writer") != self.writer

    async def watch_state(self) -> AsyncGenerator[int, None]:
        """Yield the store's revision each time another replica changes the state.

        Lists (reads) first and watches from the read's resourceVersion; a broken watch,
        and 410 Gone, start again from a fresh read, so a change made meanwhile is still
        seen (as one revision: only the latest state matters)."""
        seen: str | None = None
        while True:
            try:
                current = await self._read(self.name)
                version = current.metadata.resourceVersion if current and current.metadata else None
                if current is not None and version != seen:
                    if seen is not None and self._others(current):
                        yield int((current.data or {}).get("revision", "0"))
                    seen = version
                async for _, changed in self.client.watch(
                    ConfigMap,
                    namespace=self.namespace,
                    fields={"metadata.name": self.name},
                    resource_version=seen,
                ):
                    meta = changed.metadata
                    version = meta.resourceVersion if meta is not None else None
                    if version is None or version == seen:
                        continue
                    seen = version
                    if self._others(changed):
                        yield int((changed.data or {}).get("revision", "0"))
            except (ApiError, StoreError, *UNREACHABLE) as exc:
                log.warning("watching ConfigMap %s/%s: %s", self.namespace, self.name, exc)
                await asyncio.sleep(RETRY)


__all__ = ["HISTORY_NAME", "STATE_NAME", "KubernetesStore"]
