"""Why a cluster's hosts were ejected: which detector, which hosts failed most, and when.

Envoy says which detector ejected how many hosts (`ejections_enforced_<detector>`, over
OTLP) and how each endpoint fared (LRS), but never which host it ejected: the gauge
`ejections_active` only counts them. What is known is said as it is known. Detector counts
and failures are facts; "ejected on" is matched: on a proxy that ejects k hosts now, the
k hosts with the most failures in the window are taken to be those.

Each proxy is read on its own, since outlier detection is per proxy. A replica sums its
proxies (`of_proxies`), and the replicas' answers add up (`merge`), since each proxy
reports to one replica.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from breakwater.controlplane.fleet.reports import EJECTIONS_BY, ClusterReport
from breakwater.controlplane.fleet.views import EjectionCauses, FailingHostView
from breakwater.controlplane.limits import MAX_FAILING_HOSTS


@dataclass(frozen=True)
class ProxyWindow:
    """One live proxy's reports of one cluster in the window, with its gauges as they are now."""

    gauges: Mapping[str, int]
    reports: Sequence[tuple[float, ClusterReport]]
    """(monotonic time of arrival, report), oldest first."""


@dataclass
class _Host:
    failed: int = 0
    requests: int = 0
    proxies_failing: int = 0
    proxies_reporting: int = 0
    ejected_on: int = 0
    last_failed_at: float | None = None


@dataclass
class _Sum:
    detectors: dict[str, list[int]] = field(default_factory=dict)
    hosts: dict[str, _Host] = field(default_factory=dict)
    first_ejection_at: float | None = None


def of_proxies(
    proxies: Iterable[ProxyWindow], *, wall_offset: float | None = None
) -> EjectionCauses:
    """What these proxies' windows say; `wall_offset` turns monotonic times into Unix times."""
    offset = time.time() - time.monotonic() if wall_offset is None else wall_offset
    summed = _Sum()
    for proxy in proxies:
        detectors: dict[str, int] = {}
        hosts: dict[str, _Host] = {}
        for at, report in proxy.reports:
            for name, value in report.counters.items():
                if name.startswith(EJECTIONS_BY) and value > 0:
                    detector = name[len(EJECTIONS_BY) :]
                    detectors[detector] = detectors.get(detector, 0) + value
                    summed.first_ejection_at = _earliest(summed.first_ejection_at, at + offset)
            for address, load in report.endpoints.items():
                host = hosts.setdefault(address, _Host())
                host.failed += load.failed
                host.requests += load.succeeded + load.failed
                if load.failed:
                    host.last_failed_at = at + offset
        for detector, count in detectors.items():
            entry = summed.detectors.setdefault(detector, [0, 0])
            entry[0] += count
            entry[1] += 1
        ejected = proxy.gauges.get("hosts_ejected", 0)
        suspects = _most_failing(hosts)[:ejected]
        for address, host in hosts.items():
            mine = summed.hosts.setdefault(address, _Host())
            mine.failed += host.failed
            mine.requests += host.requests
            mine.proxies_reporting += 1
            mine.proxies_failing += 1 if host.failed else 0
            mine.ejected_on += 1 if address in suspects else 0
            mine.last_failed_at = _latest(mine.last_failed_at, host.last_failed_at)
    return _answer(summed)


def merge(answers: Iterable[EjectionCauses]) -> EjectionCauses:
    """Several replicas' answers for one cluster as one: their proxies are distinct."""
    summed = _Sum()
    for answer in answers:
        for detector, (count, proxies) in answer.detectors.items():
            entry = summed.detectors.setdefault(detector, [0, 0])
            entry[0] += count
            entry[1] += proxies
        for view in answer.hosts:
            host = summed.hosts.setdefault(view.address, _Host())
            host.failed += view.failed
            host.requests += view.requests
            host.proxies_failing += view.proxies_failing
            host.proxies_reporting += view.proxies_reporting
            host.ejected_on += view.ejected_on
            host.last_failed_at = _latest(host.last_failed_at, view.last_failed_at)
        if answer.first_ejection_at is not None:
            summed.first_ejection_at = _earliest(summed.first_ejection_at, answer.first_ejection_at)
    return _answer(summed)


def _most_failing(hosts: Mapping[str, _Host]) -> list[str]:
    failing = [a for a, h in hosts.items() if h.failed]
    return sorted(failing, key=lambda a: (-hosts[a].failed, a))


def _answer(summed: _Sum) -> EjectionCauses:
    """Only hosts that failed, the most failing first, at most `MAX_FAILING_HOSTS` of them."""
    return EjectionCauses(
        detectors={d: (c, p) for d, (c, p) in sorted(summed.detectors.items())},
        hosts=tuple(
            FailingHostView(address=a, **vars(summed.hosts[a]))
            for a in _most_failing(summed.hosts)[:MAX_FAILING_HOSTS]
        ),
        first_ejection_at=summed.first_ejection_at,
    )


def _latest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _earliest(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def detector_text(detector: str) -> str:
    """`consecutive_5xx` as `consecutive 5xx`: how an operator says it."""
    return detector.replace("_", " ")
