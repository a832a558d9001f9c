"""Following the state that other replicas write: an etcd watch, as revisions.

A replica learns of another's write from this stream and then reads the
whole state again; all it needs from the watch is each change's revision,
and the one failure that asks for more than a retry: history etcd has
compacted away (`StoreCompacted`), after which only a full read catches up.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import aetcd  # type: ignore[import-untyped]

from breakwater.controlplane.state.etcd.connection import EtcdConnection
from breakwater.controlplane.state.store import StoreError


class StoreCompacted(StoreError):
    """A watch asked for revisions etcd has compacted away; read the whole state instead."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(
            f"etcd compacted its history up to revision {compacted}; changes since revision "
            f"{requested} cannot be replayed, the whole state has to be read again"
        )
        self.requested = requested
        self.compacted = compacted


async def watch_revisions(
    connection: EtcdConnection, prefix: bytes, start_revision: int
) -> AsyncGenerator[int, None]:
    """Yield the mod revision of every change under `prefix` from `start_revision` on.

    Ends when the connection is replaced (after a failure elsewhere);
    raises `StoreCompacted` when etcd no longer has `start_revision`, and
    `StoreError` when the stream breaks.
    """
    client = connection.current()
    action = "watch the state"
    try:
        watch = await client.watch_prefix(prefix, start_revision=start_revision)
    except aetcd.RevisionCompactedError as exc:
        raise StoreCompacted(start_revision, int(exc.compacted_revision)) from exc
    except (aetcd.ClientError, TimeoutError) as exc:
        raise connection.failure(client, action, exc) from exc
    try:
        async for event in watch:
            yield int(event.kv.mod_revision)
    except aetcd.RevisionCompactedError as exc:
        raise StoreCompacted(start_revision, int(exc.compacted_revision)) from exc
    except (aetcd.ClientError, TimeoutError) as exc:
        raise connection.failure(client, action, exc) from exc
    finally:
        with contextlib.suppress(Exception):
            await watch.cancel()
