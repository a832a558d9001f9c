"""Each replica's share of the fleet's reports, in a ConfigMap of its own, so that the replica
that decides (the leader, driving rollouts) judges the whole fleet and not only the proxies
connected to itself.

`FleetSharing` (controlplane/fleet/sharing.py) publishes once a second when the share
changed (and every two seconds regardless) and reads the others'. Here a share is the
`share` key of ConfigMap `breakwater-fleet-<replica>` (binaryData), labelled so that one
list finds them all. A share that stops changing stops counting after a few seconds (the
readers' rule, as on etcd); what a killed replica leaves behind is deleted by the next
reader once it is `FORGET_AFTER` seconds old, and a replica that stops deletes its own.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from breakwater.controlplane.kubernetes.forbidden import UNREACHABLE, refusal
from breakwater.controlplane.state.store import StoreError

log = logging.getLogger(__name__)

LABEL = "breakwater.dev/fleet-share"
"""On every share's ConfigMap; its value is `true`."""
REPLICA = "breakwater.dev/replica"
"""Annotation: the replica's id, as it names itself."""
WRITTEN_AT = "breakwater.dev/written-at"
"""Annotation: Unix time of the write, for forgetting the shares of replicas that died."""
FORGET_AFTER = 300.0
"""Seconds after its last write that a share is deleted by whoever reads it."""


def share_name(replica_id: str) -> str:
    """A ConfigMap name for the replica: its id made a DNS label, with a hash to keep it unique."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", replica_id.lower()).strip("-")[:40] or "replica"
    digest = hashlib.sha256(replica_id.encode()).hexdigest()[:8]
    return f"breakwater-fleet-{cleaned}-{digest}"


class FleetShares:
    """The shares of one namespace."""

    def __init__(self, client: AsyncClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._mine: str | None = None

    async def put(self, replica_id: str, share: bytes) -> None:
        name = share_name(replica_id)
        configmap = ConfigMap(
            metadata=ObjectMeta(
                name=name,
                namespace=self.namespace,
                labels={LABEL: "true"},
                annotations={REPLICA: replica_id, WRITTEN_AT: f"{time.time():.3f}"},
            ),
            binaryData={"share": base64.b64encode(share).decode()},
        )
        try:
            await self.client.apply(configmap, field_manager="breakwater", force=True)
        except ApiError as exc:
            raise StoreError(refusal(exc, "patch", "", "configmaps", self.namespace)) from exc
        except UNREACHABLE as exc:
            raise StoreError(
                f"cannot reach the API server to publish a fleet share: {exc}"
            ) from exc
        self._mine = name

    async def read(self) -> dict[str, tuple[int, bytes]]:
        """Replica id → (a number that changes with each write, the share)."""
        out: dict[str, tuple[int, bytes]] = {}
        try:
            found = [
                c
                async for c in self.client.list(
                    ConfigMap, namespace=self.namespace, labels={LABEL: "true"}
                )
            ]
        except ApiError as exc:
            raise StoreError(refusal(exc, "list", "", "configmaps", self.namespace)) from exc
        except UNREACHABLE as exc:
            raise StoreError(f"cannot reach the API server to read fleet shares: {exc}") from exc
        now = time.time()
        for configmap in found:
            meta = configmap.metadata
            if meta is None or meta.name is None:
                continue
            annotations = meta.annotations or {}
            replica = annotations.get(REPLICA)
            raw = (configmap.binaryData or {}).get("share")
            try:
                written = float(annotations.get(WRITTEN_AT, "0"))
            except ValueError:
                written = 0.0
            if now - written > FORGET_AFTER and meta.name != self._mine:
                await self._forget(meta.name)
                continue
            if replica is None or raw is None:
                continue
            version = meta.resourceVersion or ""
            number = (
                int(version)
                if version.isdigit()
                else int(hashlib.sha256(version.encode()).hexdigest()[:12], 16)
            )
            out[replica] = (number, base64.b64decode(raw))
        return out

    async def remove_mine(self) -> None:
        if self._mine is not None:
            await self._forget(self._mine)
            self._mine = None

    async def _forget(self, name: str) -> None:
        try:
            await self.client.delete(ConfigMap, name, namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                log.warning("cannot delete the fleet share %s: %s", name, exc.status.message)
        except UNREACHABLE:
            pass


__all__ = ["FleetShares", "share_name"]
