"""Writes each object's status (and each Rollout decision as an Event), on the leader only.

The statuses themselves come from `status.desired_status`, a pure function; this module
compares them with what the API server holds and writes the ones that differ through the
`status` subresource, as a merge patch that carries the object's resourceVersion: when
someone wrote the object since it was read, the API server answers 409 and the next round
writes it again from the fresh copy. Only the replica holding the Lease writes, so
replicas never take turns overwriting each other.

Rollout decisions (each entry of a Rollout's history: a step taken, a pause, a rollback)
become `events.k8s.io/v1` Events regarding the Rollout object, as a controller's
decisions do (`kubectl describe rollout` and `kubectl get events` show them). Which
entries were posted is remembered per Rollout by the time of the last one; a new leader
posts only the entries newer than the newest Event already on the server for that object.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.models.core_v1 import ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.events_v1 import Event as KubeEvent
from lightkube.types import PatchType

from breakwater.controlplane.kubernetes import kinds
from breakwater.controlplane.kubernetes.forbidden import refusal
from breakwater.controlplane.kubernetes.kinds import Kind
from breakwater.controlplane.kubernetes.source import ObjectReport
from breakwater.controlplane.kubernetes.status import StatusView, desired_status, same_status
from breakwater.controlplane.rollouts.engine import Event

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "breakwater.dev/control-plane"
FIELD_MANAGER = "breakwater"


STATUS_KINDS = (
    kinds.GATEWAY_CLASS,
    kinds.GATEWAY,
    kinds.HTTP_ROUTE,
    kinds.GRPC_ROUTE,
    *kinds.BREAKWATER_KINDS,
)
"""The kinds whose status Breakwater writes (the RBAC rules' `*/status` resources)."""
_BY_API = {(k.api_version, k.kind): k for k in STATUS_KINDS}


def _status_resource(kind: Kind) -> Any:
    """lightkube's resource for the kind's status subresource."""
    make = create_namespaced_resource if kind.namespaced else create_global_resource
    return make(kind.group, kind.version, kind.kind, kind.plural).Status


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusWriter:
    """Writes statuses and Events while `leading()` says this replica holds the Lease."""

    def __init__(self, client: AsyncClient, leading: Callable[[], bool], identity: str) -> None:
        self.client = client
        self._leading = leading
        self.identity = identity
        self._events_posted: dict[tuple[str, str], float] = {}

    def forget_posted(self) -> None:
        """Read again from the server which decisions were posted (another leader may have
        posted some since this replica last led)."""
        self._events_posted.clear()

    async def write(
        self,
        objects: Iterable[tuple[Mapping[str, Any], ObjectReport | None]],
        view: StatusView,
    ) -> int:
        """Write the statuses that differ from what `view` and each object's report say;
        returns how many were written."""
        if not self._leading():
            return 0
        written = 0
        for obj, report in objects:
            desired = desired_status(obj, report, view)
            if desired is None or same_status(obj.get("status"), desired):
                continue
            if await self._patch_status(obj, desired):
                written += 1
        return written

    async def _patch_status(self, obj: Mapping[str, Any], desired: dict[str, Any]) -> bool:
        kind = _BY_API.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
        if kind is None:
            return False
        meta = obj.get("metadata", {})
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": desired}
        namespace = meta.get("namespace") if kind.namespaced else None
        try:
            await self.client.patch(
                _status_resource(kind),
                meta["name"],
                patch,
                namespace=namespace,
                patch_type=PatchType.MERGE,
                field_manager=FIELD_MANAGER,
            )
        except ApiError as exc:
            if exc.status.code in (404, 409):
                return False  # deleted, or changed since read: the next round has it fresh
            error = refusal(exc, "patch", kind.group, f"{kind.plural}/status", namespace)
            log.warning("cannot write the status of %s %s: %s", kind.kind, meta.get("name"), error)
            return False
        return True

    async def post_rollout_events(
        self, rollout: Mapping[str, Any], history: Iterable[Event]
    ) -> int:
        """Post the Rollout's decisions not posted yet as Events; returns how many."""
        if not self._leading():
            return 0
        meta = rollout.get("metadata", {})
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if key not in self._events_posted:
            self._events_posted[key] = await self._newest_posted(*key)
        posted = 0
        for entry in sorted(history, key=lambda e: e.at):
            if entry.at <= self._events_posted[key]:
                continue
            await self._post(rollout, entry)
            self._events_posted[key] = entry.at
            posted += 1
        return posted

    async def _newest_posted(self, namespace: str, name: str) -> float:
        newest = 0.0
        async for event in self.client.list(
            KubeEvent,
            namespace=namespace,
            fields={"regarding.name": name, "regarding.kind": "Rollout"},
        ):
            annotations = (event.metadata.annotations or {}) if event.metadata else {}
            try:
                newest = max(newest, float(annotations.get(_AT, "0")))
            except ValueError:
                continue
        return newest

    async def _post(self, rollout: Mapping[str, Any], entry: Event) -> None:
        meta = rollout.get("metadata", {})
        at = datetime.fromtimestamp(entry.at, UTC)
        event = KubeEvent(
            metadata=ObjectMeta(
                name=f"{meta.get('name')}.{secrets.token_hex(8)}",
                namespace=meta.get("namespace"),
                annotations={_AT: repr(entry.at)},
            ),
            eventTime=at,
            action=entry.phase,
            reason=_REASONS.get(entry.phase, entry.phase),
            note=f"step {entry.step}, canary weight {entry.canary_weight}: {entry.message}"[:1024],
            type="Warning" if entry.phase in ("RolledBack", "Aborted") else "Normal",
            regarding=ObjectReference(
                apiVersion=str(rollout.get("apiVersion")),
                kind="Rollout",
                name=meta.get("name"),
                namespace=meta.get("namespace"),
                uid=meta.get("uid"),
                resourceVersion=meta.get("resourceVersion"),
            ),
            reportingController=REPORTING_CONTROLLER,
            reportingInstance=self.identity,
        )
        try:
            await self.client.create(event)
        except ApiError as exc:
            error = refusal(exc, "create", "events.k8s.io", "events", meta.get("namespace"))
            log.warning("cannot post a Rollout event: %s", error)


_AT = "breakwater.dev/decided-at"
"""The decision's own time (Unix seconds), so a new leader knows what was posted already."""
_REASONS = {"Progressing": "StepTaken"}
"""An Event's reason per phase; the other phases' names are their own reasons."""


__all__ = [
    "REPORTING_CONTROLLER",
    "STATUS_KINDS",
    "StatusView",
    "StatusWriter",
    "rfc3339",
]
