"""Durable state that the API writes: weight overrides and endpoint drains on top of the YAML.

The store is a small interface so that a distributed backend (etcd) can
replace the embedded one. Revisions follow etcd's model: one counter for the
whole store, and each key remembers the revision that last modified it, so
compare-and-set is "write only if the key's revision is still N".

The embedded backend is SQLite in WAL mode with `synchronous=FULL`: a write
is on disk before the API answers success.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from breakwater.controlplane.state.instances import (
    INSTANCES_SCHEMA,
    Instance,
    delete_row,
    load_rows,
    renew_row,
    write_row,
)

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store cannot be read or written; the message says what to do."""


class RevisionConflict(Exception):
    """A compare-and-set write named a revision that is no longer current."""

    def __init__(self, key: str, expected: int, current: int) -> None:
        super().__init__(
            f"{key} is at revision {current}, not {expected}: someone else changed it; "
            "read it again and retry with the current revision"
        )
        self.key = key
        self.expected = expected
        self.current = current


class ClaimLost(Exception):
    """A write made for a claim (driving one rollout) that this replica no longer holds."""

    def __init__(self, claim: str) -> None:
        super().__init__(
            f"this replica no longer holds {claim}; another replica drives it now, or will "
            "once it claims it"
        )
        self.claim = claim


@dataclass(frozen=True)
class WeightOverride:
    """Weights for one HTTPRoute rule, keyed by backend label (subset, or service when it has none)."""

    route: str
    rule: int
    weights: dict[str, int]
    revision: int = 0

    @property
    def key(self) -> str:
        return f"{self.route}/{self.rule}"


@dataclass(frozen=True)
class Drain:
    """One endpoint of a service taken out of rotation, who did it and when."""

    service: str
    endpoint: str
    """`ADDRESS:PORT`, as `translators.names.endpoint_key` spells it."""
    by: str
    at: float
    """Unix time."""
    revision: int = 0

    @property
    def key(self) -> str:
        return f"{self.service}/{self.endpoint}"


@dataclass(frozen=True)
class StoreState:
    overrides: dict[tuple[str, int], WeightOverride] = field(default_factory=dict)
    drains: dict[tuple[str, str], Drain] = field(default_factory=dict)
    revision: int = 0
    rollouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Rollout name → its progress, as the rollout engine writes it (JSON)."""
    rollout_revisions: dict[str, int] = field(default_factory=dict)
    """Rollout name → the revision of its progress, what a compare-and-set compares."""
    instances: dict[tuple[str, str], Instance] = field(default_factory=dict)
    """(service, ADDRESS:PORT) → a registered instance."""


@dataclass(frozen=True)
class StoreHealth:
    """Whether a store answers, as the store itself knows it (a shared store's connection);
    a store on this machine answers whenever its file does, which only a write finds out."""

    available: bool = True
    error: str | None = None
    """What the failure of the current outage was, in a sentence."""
    unavailable_since: float | None = None
    """Wall-clock time of the first failure of the current outage."""
    writes: str = ""
    """What happens to writes meanwhile."""


class Store(Protocol):
    """What the control plane needs from durable state; a write returns only once it is durable."""

    shared: bool
    """Whether other replicas read and write the same state."""

    def describe(self) -> str:
        """Where the state lives, for logs and status."""
        ...

    def health(self) -> StoreHealth:
        """Whether the store answers, for status, health and metrics."""
        ...

    async def load(self) -> StoreState: ...

    async def put_weights(
        self,
        route: str,
        rule: int,
        weights: dict[str, int],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> WeightOverride:
        """With `claim`, only while this replica holds it (else `ClaimLost`)."""
        ...

    async def delete_weights(
        self, route: str, rule: int | None = None, expected_revision: int | None = None
    ) -> int: ...

    async def put_drain(self, drain: Drain, expected_revision: int | None = None) -> Drain:
        """Save a drain; with a revision, only if the endpoint's drain is still at it (0: none)."""
        ...

    async def delete_drain(
        self, service: str, endpoint: str, expected_revision: int | None = None
    ) -> int:
        """Forget a drain (nothing to forget is no error); returns the state revision."""
        ...

    async def put_rollout(
        self,
        name: str,
        state: dict[str, Any],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> int:
        """Save a rollout's progress; with a revision, only if its progress is still at it (0:
        none); with `claim`, only while this replica holds it. Returns the new revision."""
        ...

    async def put_instance(self, instance: Instance) -> Instance:
        """Register an instance, or change what is registered; returns it with its revision
        (and, on etcd, the lease its key lives under, which ends with `expires_at`)."""
        ...

    async def put_instances(
        self, instances: list[Instance], changes: list[dict[str, Any]], keep: int
    ) -> list[Instance]:
        """Register (or change) several instances and add their history entries, all durable
        before this returns; returns them as `put_instance` does. On SQLite it is one
        transaction (one sync for a burst of registrations)."""
        ...

    async def lease_times(self, instances: list[Instance]) -> list[Instance]:
        """The instances with the last renewal and expiry the store holds for them: what they
        are given, where every renewal writes its time (SQLite, Kubernetes); on etcd, from
        their leases."""
        ...

    async def renew_instances(self, instances: list[Instance]) -> list[bool]:
        """Save renewals (their new `renewed_at` and `expires_at`), all at once; for each,
        False when the instance is gone from the store (expired meanwhile)."""
        ...

    async def delete_instance(self, service: str, endpoint: str) -> int:
        """Forget an instance (nothing to forget is no error); returns the state revision."""
        ...

    async def append_change(self, entry: dict[str, Any], keep: int) -> None:
        """Add one history entry; only the newest `keep` are kept."""
        ...

    async def changes(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` history entries, oldest first."""
        ...

    async def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS weights (
    route TEXT NOT NULL,
    rule INTEGER NOT NULL,
    weights TEXT NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (route, rule)
);
CREATE TABLE IF NOT EXISTS drains (
    service TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    by TEXT NOT NULL,
    at REAL NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (service, endpoint)
);
CREATE TABLE IF NOT EXISTS rollouts (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);

INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 1);
"""


_CANNOT_WRITE = frozenset({8, 10, 13, 14})
"""SQLite's READONLY, IOERR, FULL and CANTOPEN: the file may be fine, its disk is not."""


async def put_instances_one_by_one(
    put: Callable[[Instance], Awaitable[Instance]],
    append: Callable[[dict[str, Any], int], Awaitable[None]],
    instances: list[Instance],
    changes: list[dict[str, Any]],
    keep: int,
) -> list[Instance]:
    """`put_instances` for a store without one transaction for both: each instance, then the
    entries."""
    saved = [await put(instance) for instance in instances]
    for entry in changes:
        try:
            await append(entry, keep)
        except StoreError as exc:  # the instances are saved: their API answer stands
            log.error("could not record the change in the history: %s", exc)
    return saved


class SqliteStore:
    """The embedded default: one SQLite file in the state directory, no server to run."""

    FILENAME = "breakwater.sqlite3"
    shared = False

    def __init__(self, directory: Path) -> None:
        self.path = directory / self.FILENAME
        try:
            # Owner only: the file says who changed what (SQLite gives its WAL and shared
            # memory files the database file's mode).
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # if it cannot be made, SQLite says why below
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=5000")
            check = self._db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            self._refuse_foreign_database()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA + INSTANCES_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(rollouts)")}
            if "revision" not in columns:  # a file written before progress was compare-and-set
                self._db.execute(
                    "ALTER TABLE rollouts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0"
                )
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _CANNOT_WRITE:
                raise StoreError(
                    f"cannot open the state file {self.path}: {exc}. The disk may be full or the "
                    "directory not writable; make room or fix its permissions and start again "
                    "(the file is left as it is)"
                ) from exc
            raise StoreError(
                f"cannot open the state file {self.path}: {exc}. It may be corrupt or not a "
                "Breakwater state file; move it away to start empty (the weight overrides in it "
                "would be lost) or restore it from a backup"
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot create the state directory {directory}: {exc}") from exc
        self._lock = threading.Lock()

    def _refuse_foreign_database(self) -> None:
        """Touch nothing in a database that is neither empty nor Breakwater's."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return
        if not {"meta", "weights"} <= tables:
            raise sqlite3.DatabaseError(
                f"it holds tables {', '.join(sorted(tables))} but not Breakwater's"
            )
        schema = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if schema is None or schema[0] != 1:
            raise sqlite3.DatabaseError(f"unknown schema version {schema}")

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def health(self) -> StoreHealth:
        return StoreHealth()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction under the lock: committed whole or rolled back, and SQLite's
        errors turned into the StoreError the API answers 503 with."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the state file {self.path}: {exc}") from exc

    async def load(self) -> StoreState:
        return await asyncio.to_thread(self._load)

    async def put_weights(
        self,
        route: str,
        rule: int,
        weights: dict[str, int],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> WeightOverride:
        # One process on its own file holds every claim.
        return await asyncio.to_thread(self._put_weights, route, rule, weights, expected_revision)

    async def delete_weights(
        self, route: str, rule: int | None = None, expected_revision: int | None = None
    ) -> int:
        return await asyncio.to_thread(self._delete_weights, route, rule, expected_revision)

    async def put_rollout(
        self,
        name: str,
        state: dict[str, Any],
        expected_revision: int | None = None,
        claim: str | None = None,
    ) -> int:
        return await asyncio.to_thread(self._put_rollout, name, state, expected_revision)

    async def put_drain(self, drain: Drain, expected_revision: int | None = None) -> Drain:
        return await asyncio.to_thread(self._put_drain, drain, expected_revision)

    async def delete_drain(
        self, service: str, endpoint: str, expected_revision: int | None = None
    ) -> int:
        return await asyncio.to_thread(self._delete_drain, service, endpoint, expected_revision)

    async def append_change(self, entry: dict[str, Any], keep: int) -> None:
        await asyncio.to_thread(self._append_change, entry, keep)

    async def put_instance(self, instance: Instance) -> Instance:
        return await asyncio.to_thread(self._put_instance, instance)

    async def put_instances(
        self, instances: list[Instance], changes: list[dict[str, Any]], keep: int
    ) -> list[Instance]:
        return await asyncio.to_thread(self._put_instances, instances, changes, keep)

    async def renew_instances(self, instances: list[Instance]) -> list[bool]:
        return await asyncio.to_thread(self._renew_instances, instances)

    async def lease_times(self, instances: list[Instance]) -> list[Instance]:
        return instances  # every renewal writes its row, and this process made them all

    async def delete_instance(self, service: str, endpoint: str) -> int:
        return await asyncio.to_thread(self._delete_instance, service, endpoint)

    def _put_instance(self, instance: Instance) -> Instance:
        with self._write():
            revision = self._bump()
            write_row(self._db, instance, revision)
        return dataclasses.replace(instance, revision=revision)

    def _put_instances(
        self, instances: list[Instance], changes: list[dict[str, Any]], keep: int
    ) -> list[Instance]:
        with self._write():
            revision = self._bump()
            for instance in instances:
                write_row(self._db, instance, revision)
            self._insert_changes(changes, keep)
        return [dataclasses.replace(i, revision=revision) for i in instances]

    def _renew_instances(self, instances: list[Instance]) -> list[bool]:
        with self._write():
            return [renew_row(self._db, instance) for instance in instances]

    def _delete_instance(self, service: str, endpoint: str) -> int:
        with self._write():
            if not delete_row(self._db, service, endpoint):
                return self._revision()
            return self._bump()

    async def changes(self, limit: int) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._changes, limit)

    async def close(self) -> None:
        with self._lock:
            self._db.close()

    def _append_change(self, entry: dict[str, Any], keep: int) -> None:
        with self._write():
            self._insert_changes([entry], keep)

    def _insert_changes(self, entries: list[dict[str, Any]], keep: int) -> None:
        if not entries:
            return
        self._db.executemany(
            "INSERT INTO history (entry) VALUES (?)",
            [(json.dumps(entry, sort_keys=True),) for entry in entries],
        )
        self._db.execute(
            "DELETE FROM history WHERE id <= (SELECT MAX(id) FROM history) - ?", (keep,)
        )

    def _changes(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT entry FROM history ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the state file {self.path}: {exc}") from exc
        return [json.loads(row[0]) for row in reversed(rows)]

    def _put_rollout(self, name: str, state: dict[str, Any], expected: int | None) -> int:
        with self._write():
            row = self._db.execute(
                "SELECT revision FROM rollouts WHERE name = ?", (name,)
            ).fetchone()
            self._check(f"rollout {name}", row[0] if row else 0, expected)
            revision = self._bump()
            self._db.execute(
                "INSERT OR REPLACE INTO rollouts (name, state, revision) VALUES (?, ?, ?)",
                (name, json.dumps(state, sort_keys=True), revision),
            )
        return revision

    def _load(self) -> StoreState:
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT route, rule, weights, revision FROM weights"
                ).fetchall()
                rollout_rows = self._db.execute(
                    "SELECT name, state, revision FROM rollouts"
                ).fetchall()
                drain_rows = self._db.execute(
                    "SELECT service, endpoint, by, at, revision FROM drains"
                ).fetchall()
                revision = self._revision()
                instances = load_rows(self._db, self.path)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the state file {self.path}: {exc}") from exc
            except ValueError as exc:
                raise StoreError(str(exc)) from exc
        overrides: dict[tuple[str, int], WeightOverride] = {}
        for route, rule, weights, row_revision in rows:
            try:
                parsed = json.loads(weights)
                if not isinstance(parsed, dict):
                    raise ValueError("not a mapping")
            except ValueError as exc:
                raise StoreError(
                    f"the state file {self.path} holds unreadable weights for {route}/{rule}: {exc}"
                ) from exc
            overrides[(route, rule)] = WeightOverride(
                route, rule, {str(k): int(v) for k, v in parsed.items()}, row_revision
            )
        rollouts: dict[str, dict[str, Any]] = {}
        rollout_revisions: dict[str, int] = {}
        for name, text, rollout_revision in rollout_rows:
            rollout_revisions[name] = int(rollout_revision)
            try:
                rollouts[name] = json.loads(text)
            except ValueError as exc:
                raise StoreError(
                    f"the state file {self.path} holds an unreadable rollout {name}: {exc}"
                ) from exc
        drains = {
            (service, endpoint): Drain(service, endpoint, by, float(at), int(row_revision))
            for service, endpoint, by, at, row_revision in drain_rows
        }
        return StoreState(overrides, drains, revision, rollouts, rollout_revisions, instances)

    def _drain_revision(self, service: str, endpoint: str) -> int:
        row = self._db.execute(
            "SELECT revision FROM drains WHERE service = ? AND endpoint = ?", (service, endpoint)
        ).fetchone()
        return int(row[0]) if row else 0

    def _put_drain(self, drain: Drain, expected_revision: int | None) -> Drain:
        with self._write():
            current = self._drain_revision(drain.service, drain.endpoint)
            self._check(drain.key, current, expected_revision)
            revision = self._bump()
            self._db.execute(
                "INSERT OR REPLACE INTO drains (service, endpoint, by, at, revision) "
                "VALUES (?, ?, ?, ?, ?)",
                (drain.service, drain.endpoint, drain.by, drain.at, revision),
            )
        return Drain(drain.service, drain.endpoint, drain.by, drain.at, revision)

    def _delete_drain(self, service: str, endpoint: str, expected_revision: int | None) -> int:
        with self._write():
            current = self._drain_revision(service, endpoint)
            self._check(f"{service}/{endpoint}", current, expected_revision)
            if not current:
                return self._revision()
            revision = self._bump()
            self._db.execute(
                "DELETE FROM drains WHERE service = ? AND endpoint = ?", (service, endpoint)
            )
        return revision

    def _revision(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(row[0])

    def _bump(self) -> int:
        revision = self._revision() + 1
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (revision,))
        return revision

    def _check(self, key: str, current: int, expected: int | None) -> None:
        if expected is not None and expected != current:
            raise RevisionConflict(key, expected, current)

    def _put_weights(
        self, route: str, rule: int, weights: dict[str, int], expected_revision: int | None
    ) -> WeightOverride:
        with self._write():
            row = self._db.execute(
                "SELECT revision FROM weights WHERE route = ? AND rule = ?", (route, rule)
            ).fetchone()
            self._check(f"{route}/{rule}", row[0] if row else 0, expected_revision)
            revision = self._bump()
            self._db.execute(
                "INSERT OR REPLACE INTO weights (route, rule, weights, revision) VALUES (?, ?, ?, ?)",
                (route, rule, json.dumps(weights, sort_keys=True), revision),
            )
        return WeightOverride(route, rule, dict(weights), revision)

    def _delete_weights(self, route: str, rule: int | None, expected_revision: int | None) -> int:
        """Remove the overrides of one rule, or of every rule of a route; returns the new revision."""
        with self._write():
            if rule is None:
                rows = self._db.execute(
                    "SELECT rule, revision FROM weights WHERE route = ?", (route,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT rule, revision FROM weights WHERE route = ? AND rule = ?",
                    (route, rule),
                ).fetchall()
            current = max((r[1] for r in rows), default=0)
            self._check(route if rule is None else f"{route}/{rule}", current, expected_revision)
            if not rows:
                return self._revision()
            revision = self._bump()
            for row_rule, _ in rows:
                self._db.execute(
                    "DELETE FROM weights WHERE route = ? AND rule = ?", (route, row_rule)
                )
        return revision
