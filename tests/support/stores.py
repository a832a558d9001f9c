"""What the store contract tests are given: a way to open a store over one shared state."""

from __future__ import annotations

from collections.abc import Callable

from breakwater.controlplane.state.store import Store

Opener = Callable[[], Store]
"""Each call opens another store over the same state: another reader, as a restarted server
(SQLite) or another replica (etcd, the API server) would be."""
