"""`serve --workers N`: the xDS streams served by N worker processes, fed by the translating one.

The parent (the process `serve` starts) keeps everything it has with one process: reader,
controller, reconciler, API, store, fleet reports, rollouts. Each worker process serves ADS
(SotW and Delta) on the xDS port, shared with the other workers (`SO_REUSEPORT`), from its own
`SnapshotCache`, with the stream code unchanged. The modules, from the parent outwards:

* ``pool``: the parent's side: holds the port, starts, feeds and restarts the workers, and
  serves the relayed gRPC calls.
* ``feed``: a snapshot as it travels (per group and version, the changed types' encoded
  resources, pickled once) and as a worker rebuilds it without decoding.
* ``frames``: length-prefixed pickles over the Unix socket between parent and worker.
* ``report``: in a worker, what its streams did (connect, send, ACK, NACK, disconnect and their
  sync state), batched per event-loop turn.
* ``mirror``: in the parent, those streams as a `StreamRegistry` holds them, so status,
  metrics, rollouts, zones and convergence read them as they read local streams.
* ``relay``: the other gRPC services of the xDS port (API, fleet reports), relayed as bytes.
* ``worker``: the worker process itself (`python -m breakwater.controlplane.workers`).
"""

from __future__ import annotations

import os


def default_workers() -> int:
    """`serve`'s default: one worker per core this process may run on; on one core none (a
    worker would add the feed and the relay, and no core to spread the streams over)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


__all__ = ["default_workers"]
