"""Registered instances as the state store keeps them, and their rows in the SQLite file.

An instance is state, not policy, like a weight override or a drain: written
through the API, durable before the API answers, laid over the YAML when
served (`translators.registration`). Its times are wall-clock (Unix) times,
because they must mean the same after a restart: an instance registered
with a 30 s TTL that the server last heard of 20 s before it was killed
expires 10 s after it comes back, not 30.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from breakwater.translators.registration import RegisteredEndpoint

InstanceState = Literal["serving", "draining"]

INSTANCES_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    service TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    data TEXT NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (service, endpoint)
);
"""


@dataclass(frozen=True)
class Instance:
    """One registered instance of a Service."""

    service: str
    endpoint: str
    """`ADDRESS:PORT`, as `translators.names.endpoint_key` spells it."""
    address: str
    port: int
    labels: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    weight: int = 1
    ttl: float = 30.0
    """Seconds it lives without a renewal."""
    registered_at: float = 0.0
    """When it registered first (a renewal or a re-registration keeps it)."""
    renewed_at: float = 0.0
    """When it registered or renewed last."""
    expires_at: float = 0.0
    """When it is removed unless renewed; while draining, when the drain ends."""
    draining: bool = False
    """Deregistered: DRAINING in EDS until `expires_at`, then removed."""
    by: str = ""
    """Who registered (or deregistered) it, as the history names writers."""
    revision: int = 0
    """The store's revision of its last write (a renewal on etcd writes nothing)."""
    lease: int = 0
    """The etcd lease the instance's key lives under (0 in SQLite)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.endpoint)

    @property
    def state(self) -> InstanceState:
        return "draining" if self.draining else "serving"

    @cached_property
    def _served(self) -> RegisteredEndpoint:
        return RegisteredEndpoint(
            self.service,
            self.address,
            self.port,
            tuple(sorted(self.labels.items())),
            self.zone,
            self.weight,
            self.draining,
            self.endpoint,
        )

    def served(self) -> RegisteredEndpoint:
        """What the translators get of it; made once per Instance (each change is a new one)."""
        return self._served

    def same_endpoint(self, other: Instance) -> bool:
        """Whether the proxies see the two alike: a renewal changes nothing else."""
        return self.served() == other.served()

    def renewed(self, now: float) -> Instance:
        return replace(self, renewed_at=now, expires_at=now + self.ttl)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["revision"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], revision: int) -> Instance:
        """Raises ValueError (or TypeError) for what no Breakwater wrote."""
        labels = data.get("labels") or {}
        if not isinstance(labels, dict):
            raise ValueError("labels are not a mapping")
        zone = data.get("zone")
        return cls(
            service=str(data["service"]),
            endpoint=str(data["endpoint"]),
            address=str(data["address"]),
            port=int(data["port"]),
            labels={str(k): str(v) for k, v in labels.items()},
            zone=None if zone is None else str(zone),
            weight=int(data.get("weight", 1)),
            ttl=float(data["ttl"]),
            registered_at=float(data["registered_at"]),
            renewed_at=float(data["renewed_at"]),
            expires_at=float(data["expires_at"]),
            draining=bool(data.get("draining", False)),
            by=str(data.get("by", "")),
            revision=revision,
            lease=int(data.get("lease", 0)),
        )


def load_rows(db: sqlite3.Connection, path: object) -> dict[tuple[str, str], Instance]:
    """Every instance in the file; raises ValueError naming a row no Breakwater wrote."""
    found: dict[tuple[str, str], Instance] = {}
    for service, endpoint, data, revision in db.execute(
        "SELECT service, endpoint, data, revision FROM instances"
    ):
        try:
            instance = Instance.from_json(json.loads(data), int(revision))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"the state file {path} holds an unreadable instance {endpoint} of {service}: {exc}"
            ) from exc
        found[instance.key] = instance
    return found


def write_row(db: sqlite3.Connection, instance: Instance, revision: int) -> None:
    db.execute(
        "INSERT OR REPLACE INTO instances (service, endpoint, data, revision) VALUES (?, ?, ?, ?)",
        (
            instance.service,
            instance.endpoint,
            json.dumps(instance.to_json(), sort_keys=True),
            revision,
        ),
    )


def renew_row(db: sqlite3.Connection, instance: Instance) -> bool:
    """Save a renewal in place (the store's revision does not move: nothing served changed);
    False when the row is gone."""
    cursor = db.execute(
        "UPDATE instances SET data = ? WHERE service = ? AND endpoint = ?",
        (json.dumps(instance.to_json(), sort_keys=True), instance.service, instance.endpoint),
    )
    return cursor.rowcount > 0


def delete_row(db: sqlite3.Connection, service: str, endpoint: str) -> bool:
    cursor = db.execute(
        "DELETE FROM instances WHERE service = ? AND endpoint = ?", (service, endpoint)
    )
    return cursor.rowcount > 0
