"""One fleet view across replicas: each replica's share of the reports, and their sum.

With several replicas on etcd each proxy reports to the replica it is connected
to, so one replica alone sees about 1/N of the fleet. Each replica therefore
publishes its *share* (what its own proxies reported) and reads its peers'; the
rollout driver and the policy status read `FleetView`, this replica's own
`FleetStats` plus every live peer's share. Prometheus metrics stay per replica
(`FleetStats` alone): summed over replicas by the query, they already count the
fleet once, and a counter must not go backwards when a peer dies.

A share holds three things, each merged the way it adds up:

* **Windows** (responses by code class, the latency histogram, counters such as
  retries, per-endpoint load): bucketed by the wall-clock second the report
  arrived in. Bucket `s` holds the reports that arrived in `[s, s+1)`. Wall
  clock, not monotonic: monotonic clocks of two processes share no origin,
  while replicas' wall clocks agree to NTP's accuracy (milliseconds), far
  below a bucket. A share carries the last `SHARE_SECONDS` buckets only, so a
  publish stays small; a reader keeps each peer's buckets for the window
  (60 s) and *replaces* a bucket it already holds (never adds to it), so
  the overlap between successive publishes counts once.
* **Host views** (hosts, healthy, ejected, active requests): the peer's fleet
  view of its live proxies, merged as `FleetStats` merges proxies (worst
  view: most ejected, fewest healthy; sums of requests and proxies).
* **Totals** (counters and responses since the peer started; the latency
  histogram's totals stay local): summed. They go down when a peer leaves,
  which status may show and metrics never do.
* **Ejection causes** of the clusters whose hosts its proxies eject now
  (`causes`: detectors, the hosts failing most): judged per proxy, so
  they cannot be rebuilt from the windows; summed over replicas.

Nothing here does I/O; `sharing` publishes and reads.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from breakwater.controlplane.fleet.aggregate import ClusterTotals, FleetStats, HostView
from breakwater.controlplane.fleet.causes import merge as merge_causes
from breakwater.controlplane.fleet.contract import LATENCY_BUCKETS_MS, RATE_WINDOW_SECONDS
from breakwater.controlplane.fleet.reports import ClusterReport, EndpointLoad, Histogram
from breakwater.controlplane.fleet.views import EjectionCauses, FailingHostView
from breakwater.controlplane.limits import MAX_FAILING_HOSTS

BUCKET_SECONDS = 1
"""Width of a shared window bucket: the analysis may look as few as a couple of seconds back."""
SHARE_SECONDS = 3
"""Buckets in one publish: the current one and the two before it, so a reader that misses
up to two publishes (one a second) loses nothing, and a bucket is republished after it closed."""
FORMAT = 1
"""The share's format version: a reader skips shares of a version it does not know."""
MAX_JSON_BYTES = 16 * 1024 * 1024
"""A share that inflates past this is refused: a forged key cannot make readers allocate more
(100 busy clusters take about 100 KB)."""

Buckets = dict[int, dict[str, ClusterReport]]
"""Wall-clock second → cluster → what arrived in that second."""

_HOST_FIELDS = (
    "hosts",
    "healthy",
    "ejected",
    "proxies",
    "proxies_ejecting",
    "requests_active",
    "requests_pending",
    "busiest_active",
)


def bucket_of(wall: float) -> int:
    return int(wall // BUCKET_SECONDS) * BUCKET_SECONDS


def add_window(buckets: Buckets, wall: float, reports: Mapping[str, ClusterReport]) -> None:
    """Add one flush's reports to the bucket of `wall`, gauges left out (they are host views)."""
    into = buckets.setdefault(bucket_of(wall), {})
    for cluster, report in reports.items():
        into.setdefault(cluster, ClusterReport()).merge(
            ClusterReport(
                counters=report.counters,
                responses=report.responses,
                latency=report.latency,
                endpoints=report.endpoints,
            )
        )


def merge_hosts(views: Iterable[HostView]) -> HostView | None:
    """Several fleet views of one cluster as one, the way `FleetStats` merges proxies."""
    found = list(views)
    if not found:
        return None
    return HostView(
        hosts=max(v.hosts for v in found),
        healthy=min(v.healthy for v in found),
        ejected=max(v.ejected for v in found),
        proxies=sum(v.proxies for v in found),
        proxies_ejecting=sum(v.proxies_ejecting for v in found),
        requests_active=sum(v.requests_active for v in found),
        requests_pending=sum(v.requests_pending for v in found),
        busiest_active=max(v.busiest_active for v in found),
    )


@dataclass
class Share:
    """What one replica's proxies reported, as published."""

    at: float = 0.0
    """Wall-clock time of the publish."""
    buckets: Buckets = field(default_factory=dict)
    hosts: dict[str, HostView] = field(default_factory=dict)
    totals: dict[str, ClusterTotals] = field(default_factory=dict)
    causes: dict[str, EjectionCauses] = field(default_factory=dict)

    # --- the bytes in etcd: compact JSON, zlib-compressed ---------------------------

    def encode(self) -> bytes:
        document = {
            "v": FORMAT,
            "at": round(self.at, 3),
            "b": {
                str(second): {c: _report_json(r) for c, r in sorted(clusters.items())}
                for second, clusters in sorted(self.buckets.items())
            },
            "h": {c: [getattr(v, f) for f in _HOST_FIELDS] for c, v in sorted(self.hosts.items())},
            "t": {
                c: _drop_empty({"c": t.counters, "r": t.responses})
                for c, t in sorted(self.totals.items())
            },
            "w": {c: _causes_json(w) for c, w in sorted(self.causes.items())},
        }
        return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)

    @classmethod
    def decode(cls, raw: bytes) -> Share:
        """Raises ValueError when the bytes are not a share this version can read."""
        try:
            inflate = zlib.decompressobj()
            text = inflate.decompress(raw, MAX_JSON_BYTES)
            if inflate.unconsumed_tail:
                raise ValueError(f"it inflates past {MAX_JSON_BYTES} bytes")
            document = json.loads(text)
        except (zlib.error, ValueError) as exc:
            raise ValueError(f"not a fleet share: {exc}") from exc
        if not isinstance(document, dict) or document.get("v") != FORMAT:
            raise ValueError("a fleet share of another format version")
        try:
            return cls(
                at=float(document["at"]),
                buckets={
                    int(second): {c: _report_of(r) for c, r in clusters.items()}
                    for second, clusters in document["b"].items()
                },
                hosts={
                    c: HostView(**dict(zip(_HOST_FIELDS, map(int, v), strict=True)))
                    for c, v in document["h"].items()
                },
                totals={
                    c: ClusterTotals(counters=_ints(t.get("c")), responses=_ints(t.get("r")))
                    for c, t in document["t"].items()
                },
                causes={c: _causes_of(w) for c, w in document.get("w", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"a fleet share that does not parse: {exc!r}") from exc


def _drop_empty(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if v not in ({}, [], None)}


def _ints(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (value or {}).items()}


_HOST_ERROR_FIELDS = (
    "failed",
    "requests",
    "proxies_failing",
    "proxies_reporting",
    "ejected_on",
)


def _causes_json(causes: EjectionCauses) -> dict[str, Any]:
    return {
        "d": {d: list(v) for d, v in causes.detectors.items()},
        "h": [
            [h.address, *(getattr(h, f) for f in _HOST_ERROR_FIELDS), h.last_failed_at]
            for h in causes.hosts
        ],
        "f": causes.first_ejection_at,
    }


def _causes_of(document: dict[str, Any]) -> EjectionCauses:
    hosts = []
    for address, *numbers, last in document.get("h", [])[:MAX_FAILING_HOSTS]:
        counts = dict(zip(_HOST_ERROR_FIELDS, map(int, numbers), strict=True))
        hosts.append(
            FailingHostView(
                address=str(address),
                last_failed_at=None if last is None else float(last),
                **counts,
            )
        )
    first = document.get("f")
    return EjectionCauses(
        detectors={str(d): (int(c), int(p)) for d, (c, p) in document.get("d", {}).items()},
        hosts=tuple(hosts),
        first_ejection_at=None if first is None else float(first),
    )


def _report_json(report: ClusterReport) -> dict[str, Any]:
    latency = report.latency
    encoded: dict[str, Any] = {
        "r": report.responses,
        "c": report.counters,
        "e": {
            a: [e.succeeded, e.failed, e.issued, e.in_flight]
            for a, e in sorted(report.endpoints.items())
        },
    }
    if latency is not None and latency.count:
        # The sum to the microsecond: it only ever serves as a mean.
        encoded["l"] = [
            round(latency.total, 3),
            [[i, n] for i, n in enumerate(latency.counts) if n],
        ]
        if latency.bounds != LATENCY_BUCKETS_MS:
            encoded["lb"] = list(latency.bounds)
    return _drop_empty(encoded)


def _report_of(document: dict[str, Any]) -> ClusterReport:
    latency = None
    if "l" in document:
        total, sparse = document["l"]
        bounds = tuple(float(b) for b in document["lb"]) if "lb" in document else LATENCY_BUCKETS_MS
        counts = [0] * (len(bounds) + 1)
        for index, count in sparse:
            counts[int(index)] += int(count)
        latency = Histogram(bounds, tuple(counts), float(total))
    return ClusterReport(
        counters=_ints(document.get("c")),
        responses=_ints(document.get("r")),
        latency=latency,
        endpoints={
            str(a): EndpointLoad(int(s), int(f), int(flight), int(i))
            for a, (s, f, i, flight) in document.get("e", {}).items()
        },
    )


class RecordingFleetStats(FleetStats):
    """This replica's aggregate, which also keeps the last seconds of reports by wall-clock
    second: the windows of its share."""

    def __init__(self, *, window: float, stale_after: float) -> None:
        super().__init__(window=window, stale_after=stale_after)
        self._buckets: Buckets = {}

    def ingest(self, node_id: str, now: float, reports: Mapping[str, ClusterReport]) -> None:
        super().ingest(node_id, now, reports)
        wall = time.time()
        add_window(self._buckets, wall, reports)
        oldest = bucket_of(wall) - SHARE_SECONDS * BUCKET_SECONDS
        for second in [s for s in self._buckets if s <= oldest]:
            del self._buckets[second]

    def share(self, now: float, wall: float) -> Share:
        """What to publish now (`now` monotonic, `wall` the wall clock at the same moment)."""
        oldest = bucket_of(wall) - SHARE_SECONDS * BUCKET_SECONDS
        hosts = {c: self.hosts(c, now) for c in self.clusters_with_hosts(now)}
        return Share(
            at=wall,
            buckets={s: dict(c) for s, c in self._buckets.items() if s > oldest},
            hosts={c: v for c, v in hosts.items() if v is not None},
            totals=dict(self.totals()),
            causes={
                c: self.causes(c, now, RATE_WINDOW_SECONDS)
                for c, v in hosts.items()
                if v is not None and v.ejected
            },
        )


@dataclass
class _Peer:
    seen_revision: int
    seen_at: float
    """Monotonic time this replica first read `seen_revision`: liveness on this replica's
    own clock, whatever the peer's clock says."""
    share: Share
    buckets: Buckets


class PeerShares:
    """The other replicas' shares as last read, each kept while it keeps changing."""

    def __init__(self, *, window: float, stale_after: float) -> None:
        self.window = window
        self.stale_after = stale_after
        """A share whose key has not changed for this long stops counting (its publisher
        stopped, though its lease has not run out yet)."""
        self._peers: dict[str, _Peer] = {}

    def update(self, shares: Mapping[str, tuple[int, Share | None]], now: float) -> None:
        """The shares read now (peer → its key's mod revision and the share, None when it
        did not decode); peers not listed are gone. `now` is monotonic."""
        for gone in [p for p in self._peers if p not in shares]:
            del self._peers[gone]
        oldest = bucket_of(time.time() - self.window) - BUCKET_SECONDS
        for peer, (revision, share) in shares.items():
            known = self._peers.get(peer)
            if known is not None and known.seen_revision == revision:
                continue
            if share is None:
                self._peers.pop(peer, None)
                continue
            if known is None:
                known = self._peers[peer] = _Peer(revision, now, share, {})
            known.seen_revision, known.seen_at, known.share = revision, now, share
            known.buckets.update(share.buckets)  # a bucket published again replaces itself
            for second in [s for s in known.buckets if s < oldest]:
                del known.buckets[second]

    def held(self, peer: str, revision: int) -> Share | None:
        """The share already held for this peer at this revision, so it need not be decoded
        again; None when the peer's key moved on."""
        known = self._peers.get(peer)
        return known.share if known is not None and known.seen_revision == revision else None

    def live(self, now: float) -> list[_Peer]:
        return [p for p in self._peers.values() if now - p.seen_at <= self.stale_after]


class FleetView(FleetStats):
    """This replica's numbers plus its live peers' shares, read as one `FleetStats`.

    It is a `FleetStats` so that what judges the fleet (the rollout driver, the policy
    status) takes it unchanged. It holds no reports of its own: writes go to `local`.
    """

    def __init__(self, local: FleetStats, peers: PeerShares) -> None:
        super().__init__(window=local.window, stale_after=local.stale_after)
        self.local = local
        self.peers = peers

    # Writes and per-proxy questions are the local aggregate's.
    def ingest(self, node_id: str, now: float, reports: Mapping[str, ClusterReport]) -> None:
        self.local.ingest(node_id, now, reports)

    def forget(self, node_id: str) -> None:
        self.local.forget(node_id)

    def retain_clusters(self, clusters: frozenset[str]) -> None:
        self.local.retain_clusters(clusters)

    def proxy_count(self) -> int:
        return self.local.proxy_count()

    # The fleet's numbers: local plus peers.
    def recent(
        self, clusters: Iterable[str], now: float, seconds: float | None = None
    ) -> ClusterReport:
        """`now` is monotonic, as for `FleetStats`; peers' buckets are placed on the wall
        clock. A bucket counts when its middle is inside the window, so each edge is off
        by at most half a bucket."""
        wanted = set(clusters)
        summed = self.local.recent(wanted, now, seconds)
        span = self.window if seconds is None else min(seconds, self.window)
        wall_now = now + (time.time() - time.monotonic())
        since = wall_now - span
        for peer in self.peers.live(now):
            for second, reports in peer.buckets.items():
                middle = second + BUCKET_SECONDS / 2
                if not since <= middle or second > wall_now:
                    continue
                for cluster in wanted & reports.keys():
                    summed.merge(reports[cluster])
        return summed

    def hosts(self, cluster: str, now: float) -> HostView | None:
        mine = self.local.hosts(cluster, now)
        theirs = [p.share.hosts.get(cluster) for p in self.peers.live(now)]
        return merge_hosts([v for v in (mine, *theirs) if v is not None])

    def clusters_with_hosts(self, now: float) -> set[str]:
        found = set(self.local.clusters_with_hosts(now))
        for peer in self.peers.live(now):
            found.update(peer.share.hosts)
        return found

    def causes(self, cluster: str, now: float, seconds: float | None = None) -> EjectionCauses:
        """Local causes over `seconds`, and the peers' as they published them (over
        `RATE_WINDOW_SECONDS`)."""
        theirs = [
            p.share.causes[cluster] for p in self.peers.live(now) if cluster in p.share.causes
        ]
        mine = self.local.causes(cluster, now, seconds)
        return merge_causes([mine, *theirs]) if theirs else mine

    def totals(self) -> Mapping[str, ClusterTotals]:
        peers = self.peers.live(time.monotonic())  # totals are asked for without a time
        if not peers:
            return self.local.totals()
        summed: dict[str, ClusterTotals] = {}
        for cluster, total in self.local.totals().items():
            summed[cluster] = ClusterTotals(
                dict(total.counters), dict(total.responses), total.latency
            )
        for peer in peers:
            for cluster, total in peer.share.totals.items():
                summed.setdefault(cluster, ClusterTotals()).add(
                    ClusterReport(counters=total.counters, responses=total.responses)
                )
        return summed
