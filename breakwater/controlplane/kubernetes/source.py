"""The API server as the policy source: every watched kind, read through the one pipeline.

`KubernetesSource` is a `PolicySource`: it starts one `Watcher` per kind and
namespace, waits for their first lists, and after each change (a quiet
`KUBERNETES_QUIET` later, so a rollout's burst of slice writes is one reload)
takes a snapshot of the objects and asks the controller to read it. A read
converts the snapshot (`objects`), decodes the texts of the objects that changed
(the reader remembers the rest), validates the Services made from slices, and
runs the checks across documents.

An invalid object changes nothing that was serving: its errors are reported,
and the read is done again with the object's last valid version in its place
(or without it, if it never was valid), so everything else still follows the
cluster. What each object became is kept as an `ObjectReport`, for whoever
writes status back to the objects.

While the API server is away the watches retry with backoff and nothing is
read: the last set keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2 as httpx

from breakwater.controlplane.kubernetes import kinds
from breakwater.controlplane.kubernetes.connection import http_client, load_config
from breakwater.controlplane.kubernetes.kinds import Kind
from breakwater.controlplane.kubernetes.objects import (
    Converted,
    Objects,
    ServiceCache,
    ServiceEndpoints,
    TextCache,
    convert,
    object_path,
)
from breakwater.controlplane.kubernetes.options import KubernetesOptions
from breakwater.controlplane.kubernetes.watch import Key, Watcher
from breakwater.controlplane.state.documents import document_statuses
from breakwater.controlplane.state.policy_source import OnChange, SourceRead
from breakwater.defaults import KUBERNETES_QUIET
from breakwater.translators.decode import validate_document
from breakwater.translators.documents import RawDocument
from breakwater.translators.errors import PolicyError
from breakwater.translators.kinds import AnyDocument, kind_of
from breakwater.translators.model import Service
from breakwater.translators.model_parts import QUALIFIED_NAMES
from breakwater.translators.pipeline import DecodedTexts, LoadedPolicies, PolicyReader
from breakwater.translators.policyset import PolicySet

log = logging.getLogger(__name__)

FALLBACK_ROUNDS = 3
"""Reads with the failing objects set aside before the whole read is refused."""

Decoded = list[tuple[AnyDocument, RawDocument]]
Served = Literal["current", "previous", "none"]


@dataclass(frozen=True)
class ObjectReport:
    """What one Kubernetes object became in the last read: the status writer's input.

    `served` says which version of it Envoy gets: `current` (the object as it is
    now), `previous` (its last valid version: the current one has errors), or
    `none` (it has errors and never was valid, or it is not Breakwater's).
    """

    path: str
    """`namespace/Kind/name`, as errors name it."""
    api_version: str
    kind: str
    namespace: str
    name: str
    generation: int | None
    """metadata.generation of the version read: status's `observedGeneration`."""
    documents: tuple[str, ...]
    """`Kind/name` of each policy document it became (a Service made from slices too)."""
    errors: tuple[PolicyError, ...]
    served: Served


@dataclass(frozen=True)
class Snapshot:
    objects: Objects
    """Each kind's objects as one watch or list left them (copies of the watchers' maps)."""
    unlisted: tuple[str, ...] = ()
    """The watches that have not listed once yet, and why: while any has not, nothing is
    served (a control plane restarted during an API server outage must not hand the
    proxies an empty configuration)."""


@dataclass
class _Good:
    """What the last served read took from each object path."""

    documents: dict[str, Decoded] = field(default_factory=dict)


class KubernetesSource:
    what = "Kubernetes objects"

    def __init__(self, options: KubernetesOptions, http: httpx.AsyncClient | None = None) -> None:
        self.options = options
        self._http = http
        self._watchers: list[Watcher] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._snapshot = Snapshot({})
        self._texts: TextCache = {}
        self._made: ServiceCache = {}
        self._services: dict[str, tuple[dict[str, Any], Service | None, list[PolicyError]]] = {}
        """Breakwater name → (the data validated, its document, its errors): validated again
        only when the data changed, so unchanged Services are the same objects."""
        self._good = _Good()
        self.reports: Mapping[str, ObjectReport] = {}
        """Path → what that object became in the last read (replaced whole by each read)."""
        self._listeners: list[Callable[[Mapping[str, ObjectReport]], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = ""

    # --- PolicySource -----------------------------------------------------------------

    def describe(self) -> str:
        return f"Kubernetes ({self._server or 'API server'})"

    async def start(self, on_change: OnChange) -> None:
        """Start every watch and wait (up to `sync_timeout`) for their first lists."""
        self._loop = asyncio.get_running_loop()
        if self._http is None:
            config = load_config(self.options)
            self._server = config.cluster.server
            self._http = http_client(config)
        namespaces: tuple[str | None, ...] = self.options.namespaces or (None,)
        for kind in kinds.WATCHED:
            for namespace in namespaces if kind.namespaced else (None,):
                watcher = Watcher(
                    self._http,
                    kind,
                    namespace,
                    self._changed.set,
                    self.options.backoff_initial,
                    self.options.backoff_cap,
                )
                self._watchers.append(watcher)
                self._tasks.append(asyncio.create_task(watcher.run(), name=watcher.describe()))
        try:
            await asyncio.wait_for(
                asyncio.gather(*(w.synced.wait() for w in self._watchers)),
                self.options.sync_timeout,
            )
        except TimeoutError:
            waiting = [w.error or w.describe() for w in self._watchers if not w.synced.is_set()]
            log.error(
                "not every kind was listed within %.0f s; serving what was, and retrying: %s",
                self.options.sync_timeout,
                "; ".join(waiting),
            )
        self._changed.clear()
        self._snapshot = self._take()
        self._tasks.append(asyncio.create_task(self._follow(on_change), name="kubernetes changes"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.aclose()

    def read(self, reader: PolicyReader) -> SourceRead:
        snapshot = self._snapshot
        if snapshot.unlisted:
            waiting = PolicyError(
                self.describe(),
                0,
                "not every kind has been listed yet, so nothing is served: "
                + "; ".join(snapshot.unlisted),
            )
            return SourceRead(None, [waiting], [], "")
        converted = convert(snapshot.objects, self._texts, self._made)
        decoded = reader.decode(converted.texts)
        service_docs, service_errors, service_refused = self._validate_services(converted)
        documents = decoded.documents + service_docs
        errors = decoded.errors + converted.errors + service_errors
        first = reader.check(
            DecodedTexts(
                errors,
                documents,
                decoded.files,
                decoded.decoded,
                decoded.refused + service_refused,
            )
        )
        served, kept = self._fall_back(reader, first, documents)
        policyset = served.policyset
        if policyset is not None:
            policyset = policyset.with_drained(_drained(converted.services, policyset))
            self._good.documents = kept
        self._report(snapshot, converted, first, kept if policyset is not None else None)
        version = _version(converted)
        return SourceRead(policyset, first.errors, document_statuses(first), version)

    # --- what each object became ----------------------------------------------------------

    def add_listener(self, listener: Callable[[Mapping[str, ObjectReport]], None]) -> None:
        """`listener(reports)` is called on the event loop after every read."""
        self._listeners.append(listener)

    def objects_read(self) -> Objects:
        """The objects of the last read, as the API server sent them (status and
        resourceVersion included): what `reports` describes, for the status writer."""
        return self._snapshot.objects

    def watch_errors(self) -> list[str]:
        """Why lists or watches fail right now (a missing RBAC rule, the server away)."""
        return [w.error for w in self._watchers if w.error]

    # --- inside -----------------------------------------------------------------------------

    def _take(self) -> Snapshot:
        objects: dict[Kind, dict[Key, dict[str, Any]]] = {}
        for watcher in self._watchers:
            objects.setdefault(watcher.kind, {}).update(watcher.objects)
        unlisted = tuple(
            watcher.error or f"{watcher.describe()}: not listed yet"
            for watcher in self._watchers
            if not watcher.synced.is_set()
        )
        return Snapshot(objects, unlisted)

    async def _follow(self, on_change: OnChange) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(KUBERNETES_QUIET)
            self._changed.clear()
            self._snapshot = self._take()
            try:
                await on_change()
            except Exception:
                log.exception("reading the Kubernetes objects failed; the last set keeps serving")

    def _validate_services(
        self, converted: Converted
    ) -> tuple[Decoded, list[PolicyError], list[RawDocument]]:
        documents: Decoded = []
        errors: list[PolicyError] = []
        refused: list[RawDocument] = []
        known: dict[str, tuple[dict[str, Any], Service | None, list[PolicyError]]] = {}
        for name, made in converted.services.items():
            raw = RawDocument(made.path, 1, made.data)
            before = self._services.get(name)
            if before is not None and (before[0] is made.data or before[0] == made.data):
                known[name] = before
            else:
                known[name] = (made.data, *_validate_service(raw))
            _, document, document_errors = known[name]
            if document is not None:
                documents.append((document, raw))
            else:
                refused.append(raw)
            errors.extend(document_errors)
        self._services = known
        return documents, errors, refused

    def _fall_back(
        self, reader: PolicyReader, first: LoadedPolicies, documents: Decoded
    ) -> tuple[LoadedPolicies, dict[str, Decoded]]:
        """The first read if valid; else the read with each failing object's last valid
        documents in its place (or none), done again while new objects fail."""
        by_path: dict[str, Decoded] = {}
        for doc, raw in documents:
            by_path.setdefault(raw.file, []).append((doc, raw))
        loaded = first
        bad: set[str] = set()
        for _ in range(FALLBACK_ROUNDS):
            if loaded.policyset is not None:
                return loaded, by_path
            bad |= {error.file for error in loaded.errors}
            for path in bad:
                by_path.pop(path, None)
                if path in self._good.documents:
                    by_path[path] = self._good.documents[path]
            kept = [pair for pairs in by_path.values() for pair in pairs]
            loaded = reader.check(DecodedTexts([], kept, 0, 0))
        return loaded, by_path

    def _report(
        self,
        snapshot: Snapshot,
        converted: Converted,
        first: LoadedPolicies,
        kept: dict[str, Decoded] | None,
    ) -> None:
        errors_of: dict[str, list[PolicyError]] = {}
        for error in first.errors:
            errors_of.setdefault(error.file, []).append(error)
        made_from: dict[str, list[str]] = {}
        for made in converted.services.values():
            for source in made.sources:
                made_from.setdefault(source, []).append(made.path)
        reports: dict[str, ObjectReport] = {}
        for kind, objects in snapshot.objects.items():
            if kind in (kinds.POD, kinds.ENDPOINT_SLICE):
                continue
            for (namespace, name), obj in objects.items():
                path = object_path(kind.kind, namespace, name)
                if kind is kinds.BREAKWATER_SERVICE:
                    path += " (breakwater.dev)"
                paths = made_from.get(path, [path])
                own_errors = tuple(e for p in {path, *paths} for e in errors_of.get(p, []))
                served_docs = [pair for p in paths for pair in (kept or {}).get(p, [])]
                documents = tuple(f"{kind_of(doc)}/{doc.name}" for doc, _ in served_docs)
                state: Served = "none"
                if served_docs and kept is not None:
                    state = "previous" if own_errors else "current"
                metadata = obj.get("metadata") or {}
                generation = metadata.get("generation")
                reports[path] = ObjectReport(
                    path,
                    kind.api_version,
                    kind.kind,
                    namespace,
                    name,
                    int(generation) if generation is not None else None,
                    documents,
                    own_errors,
                    state,
                )
        self.reports = reports
        if self._loop is not None and self._listeners:
            for listener in self._listeners:
                self._loop.call_soon_threadsafe(listener, reports)


def _validate_service(raw: RawDocument) -> tuple[Service | None, list[PolicyError]]:
    """A Service made from slices, validated with the `<namespace>.<name>` names it may carry."""
    if "." not in str(raw.data["metadata"]["name"]):
        document, errors = validate_document(raw)
        return (document if isinstance(document, Service) else None), errors
    try:
        return Service.model_validate(raw.data, context={QUALIFIED_NAMES: True}), []
    except ValueError:
        document, errors = validate_document(raw)  # the sentences of the pipeline
        return None, errors


def _drained(
    services: Mapping[str, ServiceEndpoints], policyset: PolicySet
) -> dict[str, frozenset[str]]:
    """The terminating endpoints of the Services served, by Service."""
    served = policyset.services
    return {
        name: made.drained
        for name, made in sorted(services.items())
        if made.drained and name in served
    }


def _version(converted: Converted) -> str:
    digest = hashlib.sha256()
    for path, text in sorted(converted.texts.items()):
        digest.update(path.encode() + b"\0" + text.text.encode() + b"\0")
    for name, made in sorted(converted.services.items()):
        digest.update(
            name.encode() + b"\0" + repr(made.data).encode() + repr(sorted(made.drained)).encode()
        )
    return digest.hexdigest()[:16]


__all__ = ["KubernetesSource", "ObjectReport"]
