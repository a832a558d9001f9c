"""List, then watch from the list's resourceVersion: the objects of one kind, kept current.

As client-go's reflector does it: a paginated list gives every object and a
resourceVersion; a watch from there gives each later change (and, asked with
`allowWatchBookmarks`, bookmarks that move the resourceVersion on without a
change, so that a watch resumed after a quiet hour is not too old). The server
ends a watch every few minutes; it is resumed from the last resourceVersion
seen. A resourceVersion the server no longer has (410 Gone, after an etcd
compaction or a long outage) is answered by listing again, which replaces the
whole view. Any other failure (the API server down, a refusal) is retried after
a backoff that doubles up to a cap, with jitter; meanwhile the objects last seen
stay, so the control plane keeps serving what it had.

Objects are kept as the JSON the server sent, less `managedFields` (the largest
part of most objects, and never read); of a Pod only its name and labels.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2 as httpx

from breakwater.controlplane.kubernetes.kinds import Kind

log = logging.getLogger(__name__)

LIST_PAGE = 500
"""Objects per list page, as client-go's default."""
WATCH_SECONDS = 300
"""How long the server keeps one watch open (jittered), as client-go's minimum of 5 minutes."""

Key = tuple[str, str]
"""(namespace, name); the namespace is empty for a cluster-scoped kind."""


class ApiFailure(Exception):
    """The API server answered a list or watch with an error status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _status(body: bytes | str, fallback: int) -> ApiFailure:
    try:
        status = json.loads(body)
        return ApiFailure(int(status.get("code", fallback)), str(status.get("message", "")))
    except (ValueError, AttributeError):
        return ApiFailure(fallback, str(body)[:200])


def key_of(obj: dict[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _trim(obj: dict[str, Any], kind: Kind) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return obj
    if kind.labels_only:
        kept = ("name", "namespace", "labels", "resourceVersion")
        return {"metadata": {key: metadata[key] for key in kept if key in metadata}}
    metadata.pop("managedFields", None)
    return obj


class Watcher:
    """The objects of one kind in one namespace (None: all), current as of the last event.

    `on_change` is called (synchronously, on the event loop) after every change to
    `objects`: a list that replaced them, or one watch event.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        kind: Kind,
        namespace: str | None,
        on_change: Callable[[], None],
        backoff_initial: float,
        backoff_cap: float,
    ) -> None:
        self.http = http
        self.kind = kind
        self.namespace = namespace
        self._on_change = on_change
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self.objects: dict[Key, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        """Set once the first list has succeeded."""
        self.error: str | None = None
        """Why the last list or watch failed, as a sentence; None while it works."""
        self.resource_version: str | None = None
        self.lists = 0
        """Lists done so far: the first, and one after each 410 Gone."""

    def describe(self) -> str:
        where = f"in namespace {self.namespace!r}" if self.namespace else "in every namespace"
        return f"{self.kind.plural}.{self.kind.group or 'core'} {where}"

    async def run(self) -> None:
        """List and watch until cancelled; never raises for a failure of the server."""
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
                failures = 0
            except ApiFailure as exc:
                if exc.code == 410:
                    log.info(
                        "%s: resourceVersion too old (410 Gone); listing again", self.describe()
                    )
                    self.resource_version = None
                    continue
                if exc.code == 404 and self.resource_version is None:
                    # The kind is not installed (a CRD missing): nothing of it to serve.
                    self.synced.set()
                    failures = max(failures, 8)  # look again now and then, at the cap
                    self._failed(
                        f"the API server does not serve {self.describe()}: install its CRD "
                        "(deploy/kubernetes/crds.yaml, or the Gateway API's standard channel)",
                        failures,
                    )
                    delay = self._backoff_cap
                    await asyncio.sleep(delay)
                    continue
                failures += 1
                self._failed(self._sentence(exc), failures)
            except (httpx.HTTPError, OSError, ValueError) as exc:
                failures += 1
                self._failed(
                    f"cannot reach the Kubernetes API server for {self.describe()}: "
                    f"{type(exc).__name__}: {exc or 'connection lost'}",
                    failures,
                )
            else:
                continue
            delay = min(self._backoff_cap, self._backoff_initial * 2 ** (failures - 1))
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))

    def _failed(self, sentence: str, failures: int) -> None:
        if sentence != self.error or failures == 1:
            log.warning("%s; retrying, still serving the objects last read", sentence)
        self.error = sentence

    def _sentence(self, failure: ApiFailure) -> str:
        if failure.code == 403:
            verb = "list" if self.resource_version is None else "watch"
            return f"{self.kind.missing_rule(verb, self.namespace)} (the server said: {failure})"
        return f"the Kubernetes API server answered {failure.code} for {self.describe()}: {failure}"

    async def _list(self) -> None:
        objects: dict[Key, dict[str, Any]] = {}
        params: dict[str, str | int] = {"limit": LIST_PAGE}
        path = self.kind.path(self.namespace)
        while True:
            answer = await self.http.get(path, params=params)
            if answer.status_code != 200:
                raise _status(answer.content, answer.status_code)
            body = answer.json()
            for item in body.get("items") or []:
                item.setdefault("apiVersion", self.kind.api_version)
                item.setdefault("kind", self.kind.kind)
                objects[key_of(item)] = _trim(item, self.kind)
            metadata = body.get("metadata") or {}
            if not metadata.get("continue"):
                break
            params["continue"] = metadata["continue"]
        self.objects = objects
        self.resource_version = str(metadata.get("resourceVersion") or "")
        self.lists += 1
        self.error = None
        self.synced.set()
        self._on_change()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        params: dict[str, str | int] = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version or "",
            "timeoutSeconds": int(WATCH_SECONDS * random.uniform(1.0, 2.0)),
        }
        timeout = httpx.Timeout(self.http.timeout.connect, read=None)
        path = self.kind.path(self.namespace)
        async with self.http.stream("GET", path, params=params, timeout=timeout) as answer:
            if answer.status_code != 200:
                raise _status(await answer.aread(), answer.status_code)
            self.error = None
            async for line in answer.aiter_lines():
                if line:
                    yield json.loads(line)

    async def _watch(self) -> None:
        async for event in self._events():
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                raise ApiFailure(int(obj.get("code", 500)), str(obj.get("message", "")))
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                self.resource_version = str(version)
            if kind == "BOOKMARK":
                continue
            key = key_of(obj)
            if kind == "DELETED":
                self.objects.pop(key, None)
            else:
                obj.setdefault("apiVersion", self.kind.api_version)
                obj.setdefault("kind", self.kind.kind)
                self.objects[key] = _trim(obj, self.kind)
            self._on_change()


__all__ = ["ApiFailure", "Key", "Watcher", "key_of"]
