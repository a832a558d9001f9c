"""The CLI's tables: each answer of the admin API, read back into its model, drawn for people.

The answers come from `breakwater.client`; a field shown here is one the server's
model defines, never one guessed at.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from breakwater.client import read_answer
from breakwater.controlplane.api.instance_models import InstancesResponse, RegisteredInstance
from breakwater.controlplane.api.models import (
    EndpointsResponse,
    LiveEffect,
    PolicyStatus,
    Replica,
    ServiceEndpoint,
    StatusResponse,
    Weights,
)
from breakwater.controlplane.api.policy_models import PoliciesResponse, PolicyDocument
from breakwater.controlplane.api.rollout_models import (
    ChangesResponse,
    RolloutsResponse,
    RolloutStatus,
)


def _endpoint_row(endpoint: ServiceEndpoint) -> list[str]:
    if endpoint.drained:
        state = "DRAINING"
    elif endpoint.drained_by is not None:
        state = "drain kept (not in the YAML)"
    else:
        state = "serving"
    by = "-" if endpoint.drained_by is None else endpoint.drained_by
    at = "-" if endpoint.drained_at is None else _clock(endpoint.drained_at)
    return [endpoint.endpoint, state, by, at, str(endpoint.revision)]


_ENDPOINT_HEADERS = ["endpoint", "state", "drained by", "since (UTC)", "revision"]


def format_endpoints(answer: Any) -> str:
    result = read_answer(EndpointsResponse, answer)
    rows = [_endpoint_row(e) for e in result.endpoints]
    return f"service {result.service}\n" + table(_ENDPOINT_HEADERS, rows)


def format_endpoint(answer: Any) -> str:
    result = read_answer(ServiceEndpoint, answer)
    return f"service {result.service}\n" + table(_ENDPOINT_HEADERS, [_endpoint_row(result)])


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def format_weights(answer: Any) -> str:
    result = read_answer(Weights, answer)
    total = sum(result.weights.values()) or 1
    rows = [
        [label, weight, f"{100 * weight / total:.1f}%"] for label, weight in result.weights.items()
    ]
    rule = f"{result.rule_name} (index {result.rule}, " if result.rule_name else f"{result.rule} ("
    head = f"route {result.route} rule {rule}from {result.source}, revision {result.revision})"
    return head + "\n" + table(["backend", "weight", "share"], rows)


def format_status(answer: Any) -> str:
    result = read_answer(StatusResponse, answer)
    rows = [
        [
            proxy.node_id,
            proxy.node_cluster,
            proxy.protocol,
            state.type,
            state.state,
            state.sent_version or "-",
            state.acked_version or "-",
            state.nack_message,
        ]
        for proxy in result.proxies
        for state in proxy.types
    ]
    lines = [
        f"config version {result.config_version}, policy version {result.policy_version}, "
        f"state revision {result.state_revision}, {len(result.proxies)} proxies"
    ]
    if rows:
        lines.append(
            table(["proxy", "cluster", "xds", "type", "state", "sent", "acked", "nack"], rows)
        )
    lines.extend(_format_proxyless(result))
    lines.extend(_format_services(result))
    lines.extend(_format_replicas(result))
    for error in result.load_errors:
        lines.append(f"policy error (last good config still serving): {error}")
    for dropped in result.dropped_overrides:
        lines.append(f"dropped override {dropped.route} rule {dropped.rule}: {dropped.reason}")
    for drain in result.drained_endpoints:
        since = "" if drain.drained_at is None else f" since {_clock(drain.drained_at)} UTC"
        kept = "" if drain.drained else " (kept: the YAML no longer lists it)"
        lines.append(
            f"drained endpoint {drain.service} {drain.endpoint} by {drain.drained_by}{since}{kept}"
        )
    return "\n".join(lines)


def _format_proxyless(result: StatusResponse) -> list[str]:
    """Each proxyless gRPC client: its user agent, whether it is synced, and what it asked for
    (a name asked for and not served was answered as not existing)."""
    lines: list[str] = []
    for proxy in result.proxies:
        if not proxy.proxyless:
            continue
        asked = {t.type: t.subscribed for t in proxy.types}
        wanted = "; ".join(
            f"{kind} {', '.join(asked[kind]) or '*'}"
            for kind in ("lds", "rds", "cds", "eds")
            if kind in asked
        )
        state = "synced" if proxy.synced else "not synced"
        lines.append(
            f"proxyless client {proxy.node_id} ({proxy.user_agent or 'gRPC'}): {state}; "
            f"asked for {wanted or 'nothing yet'}"
        )
    return lines


def _format_replicas(result: StatusResponse) -> list[str]:
    """The store's health, and every replica with what it serves (`*` marks a skew from this one)."""
    lines: list[str] = []
    store = result.store
    if not store.available:
        lines.append(
            f"store {store.backend or '?'} UNAVAILABLE: {store.error or 'no answer'}; "
            "writes are refused, the last state read keeps serving"
        )
    replicas = result.replicas
    shared = (store.backend or "").startswith("etcd://")
    if not replicas or (len(replicas) == 1 and not shared):
        return lines  # one process on its own store: the header line says it all
    mine = next((r for r in replicas if r.is_self), None)
    rows = [_replica_row(replica, mine) for replica in replicas]
    noun = "replica" if len(replicas) == 1 else "replicas"
    lines.append(f"{len(replicas)} control plane {noun}:")
    lines.append(table(["replica", "xds", "admin", "policy", "revision", "proxies"], rows))
    return lines


def _replica_row(replica: Replica, mine: Replica | None) -> list[str]:
    policy = replica.policy_version or "-"
    revision = str(replica.state_revision)
    if not replica.is_self:
        if mine is None or replica.policy_version != mine.policy_version:
            policy += " *"
        if mine is None or replica.state_revision != mine.state_revision:
            revision += " *"
    return [
        replica.id + (" (this)" if replica.is_self else ""),
        replica.xds_address or "-",
        replica.admin_address or "-",
        policy,
        revision,
        ",".join(replica.proxies) or "-",
    ]


def _number(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _live_columns(status: PolicyStatus | None) -> list[str]:
    """APPLIED, EJECTED, RETRIES/s, 5XX %, P99 of one policy, over the clusters it shapes."""
    if status is None:
        return ["-"] * 5
    proxies = status.proxies
    held = sum(proxies.values())
    effect = status.effect
    reporting = [e for e in effect if e.proxies_reporting or e.requests_per_second]
    rate = sum(e.requests_per_second for e in effect)
    errors = sum(e.requests_per_second * (e.error_percent or 0.0) for e in effect)
    p99s = [e.p99_ms for e in effect if e.p99_ms is not None]
    applied = f"{proxies['applied']}/{held}" + ("!" if proxies["rejected"] else "")
    return [
        applied,
        str(sum(e.hosts_ejected or 0 for e in reporting)) if reporting else "-",
        _number(sum(e.retries_per_second for e in effect)) if reporting else "-",
        _number(errors / rate if rate else None, "%"),
        _number(max(p99s) if p99s else None, "ms", 0),
    ]


def format_policies(answer: Any) -> str:
    result = read_answer(PoliciesResponse, answer)
    rows = [
        [
            p.kind,
            p.name,
            "valid" if p.valid else "INVALID",
            *_live_columns(p.status),
            ",".join(p.services) or "-",
            ",".join(p.proxies) or "-",
            f"{p.file}:{p.line}",
        ]
        for p in result.policies
    ]
    headers = ["kind", "name", "state", "applied", "ejected", "retries/s", "5xx %", "p99"]
    lines = [table([*headers, "services", "proxies", "source"], rows)]
    for p in result.policies:
        lines.extend(f"  {error}" for error in p.errors)
        for rejection in p.status.rejections if p.status is not None else []:
            lines.append(f"  {p.name} rejected by {rejection.node_id}: {rejection.message}")
        for sentence in p.status.not_applied if p.status is not None else []:
            lines.append(f"  {p.name} {sentence}")
        lines.extend(_route_status_lines(p))
    return "\n".join(lines)


def _route_status_lines(document: PolicyDocument) -> list[str]:
    """A Gateway API route's conditions per parent, as `kubectl describe` would list them."""
    status = document.route_status
    if status is None:
        return []
    lines = []
    for parent in status.parents:
        where = f"{parent.namespace}/{parent.name}"
        if parent.section_name is not None:
            where += f" section {parent.section_name}"
        if parent.port is not None:
            where += f" port {parent.port}"
        for condition in parent.conditions:
            lines.append(
                f"  {document.kind} {status.namespace}/{status.name} on Gateway {where}: "
                f"{condition.type}={condition.status} ({condition.reason}): {condition.message}"
            )
    return lines


def format_policy(answer: Any) -> str:
    """`breakwater policies NAME`: scope, who holds it, and what it does per cluster."""
    status = read_answer(PolicyStatus, answer)
    proxies = status.proxies
    lines = [
        f"ResiliencePolicy {status.name} (target: {status.target})",
        f"  clusters: {', '.join(status.clusters) or '-'}",
        f"  route configurations: {', '.join(status.route_configs) or '-'}",
        f"  proxies: {proxies['applied']} applied, {proxies['pending']} pending, "
        f"{proxies['rejected']} rejected",
    ]
    lines.extend(f"    rejected by {r.node_id}: {r.message}" for r in status.rejections)
    lines.extend(f"  {sentence}" for sentence in status.not_applied)
    rows = []
    for e in status.effect:
        limit = e.concurrency_limit
        rows.append(
            [
                e.cluster,
                "-" if e.hosts is None else f"{e.hosts_healthy}/{e.hosts}",
                "-" if e.hosts_ejected is None else str(e.hosts_ejected),
                str(e.ejections_total),
                f"{e.retries_total} ({_number(e.retries_per_second)}/s)",
                str(e.bulkhead_rejections_total),
                f"{e.busiest_proxy_active}/{limit}" if limit else str(e.requests_active),
                str(e.timeouts_total),
                _number(e.requests_per_second, "/s"),
                _number(e.error_percent, "%"),
                " ".join(_number(v, "", 0) for v in (e.p50_ms, e.p95_ms, e.p99_ms)) + " ms",
            ]
        )
    if rows:
        headers = ["cluster", "healthy", "ejected", "ejections", "retries", "bulkhead rejected"]
        headers += ["active/limit", "timeouts", "requests", "5xx", "p50 p95 p99"]
        lines.append(table(headers, rows))
        window = status.effect[0].window_seconds
        lines.append(f"rates, 5xx and latency over the last {window:.0f} s; totals since start")
    for e in status.effect:
        for load in e.endpoints:
            lines.append(
                f"  {e.cluster} {load.address}: {load.succeeded} ok, {load.failed} failed, "
                f"{load.in_flight} in flight (load reports, last {e.window_seconds:.0f} s)"
            )
    for e in status.effect:
        lines.extend(_why_it_opened(e))
    return "\n".join(lines)


def _why_it_opened(e: LiveEffect) -> list[str]:
    """Which detector ejected hosts, and the hosts that failed most: Envoy names no ejected
    host, so "ejected on" is said as the match it is."""
    if not e.ejections_by_detector and not e.failing_hosts:
        return []
    window = f"{e.window_seconds:.0f} s"
    lines = [f"why it opened: {e.cluster}"]
    for d in e.ejections_by_detector:
        lines.append(
            f"  {d.detector.replace('_', ' ')}: {d.recent} ejections on {d.proxies} of "
            f"{e.proxies_reporting} proxies in the last {window}, {d.total} since start"
        )
    for h in e.failing_hosts:
        seen = "-" if h.last_failed_at is None else _clock(h.last_failed_at)
        ejected = (
            f"; ejected on {h.ejected_on} of {e.proxies_reporting} proxies"
            " (the most failing host where hosts are ejected)"
            if h.ejected_on
            else ""
        )
        lines.append(
            f"  {h.address}: {h.failed} of {h.requests} requests failed in the last {window} on "
            f"{h.proxies_failing} of {h.proxies_reporting} proxies, last at {seen} UTC{ejected}"
        )
    return lines


def _format_services(result: StatusResponse) -> list[str]:
    rows = [
        [
            h.service if h.subset is None else f"{h.service}|{h.subset}",
            "-" if h.hosts is None else f"{h.hosts_healthy}/{h.hosts}",
            "-" if h.hosts_ejected is None else str(h.hosts_ejected),
            _number(h.requests_per_second, "/s"),
            _number(h.error_percent, "%"),
            _number(h.p99_ms, "ms", 0),
        ]
        for h in result.services
    ]
    if not rows:
        return []
    return [table(["service", "healthy", "ejected", "requests", "5xx", "p99"], rows)]


def format_rollouts(answer: Any) -> str:
    result = read_answer(RolloutsResponse, answer)
    rows = [
        [
            r.name,
            f"{r.route}/{r.rule}",
            r.phase,
            f"{min(r.step + 1, r.steps)}/{r.steps}",
            f"{r.canary_weight} %" + (" +header" if r.header_route else ""),
            r.last_analysis.verdict if r.last_analysis else "-",
            r.message,
        ]
        for r in result.rollouts
    ]
    return table(["rollout", "rule", "phase", "step", "canary", "analysis", "last event"], rows)


def format_rollout(answer: Any) -> str:
    r = read_answer(RolloutStatus, answer)
    lines = [
        f"Rollout {r.name}: HTTPRoute {r.route} rule {r.rule}, {r.stable} -> {r.canary}",
        f"  phase {r.phase}, step {min(r.step + 1, r.steps)} of {r.steps}, canary {r.canary_weight} %"
        + (", header route on" if r.header_route else "")
        + (", waiting for every proxy to acknowledge" if r.awaiting_ack else ""),
        f"  {r.message}",
    ]
    if r.last_analysis is not None:
        a = r.last_analysis
        lines.append(f"  last analysis: {a.verdict}: {a.reason}")
    if r.history:
        lines.append(
            table(
                ["time", "phase", "step", "canary", "event"],
                [
                    [_clock(e.at), e.phase, str(e.step), f"{e.canary_weight} %", e.message]
                    for e in r.history[-20:]
                ],
            )
        )
    return "\n".join(lines)


def _clock(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_history(answer: Any) -> str:
    result = read_answer(ChangesResponse, answer)
    rows = [
        [
            _clock(c.at),
            c.who,
            "-" if c.route is None else f"{c.route}" + ("" if c.rule is None else f"/{c.rule}"),
            c.what,
            f"{c.before} -> {c.after}",
        ]
        for c in result.events
    ]
    return table(["time (UTC)", "who", "route", "what", "before -> after"], rows)


def _ago(seconds: float) -> str:
    """A span as an operator reads it: 42s, 3m10s, 2h05m."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


_INSTANCE_HEADERS = ["instance", "state", "zone", "labels", "weight", "age", "renewed", "leaves in"]


def _instance_row(instance: RegisteredInstance, now: float) -> list[str]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(instance.labels.items())) or "-"
    return [
        instance.endpoint,
        instance.state,
        instance.zone or "-",
        labels,
        str(instance.weight),
        _ago(now - instance.registered_at),
        _ago(now - instance.renewed_at) + " ago",
        _ago(instance.expires_at - now),
    ]


def format_instances(answer: Any) -> str:
    result = read_answer(InstancesResponse, answer)
    now = time.time()
    head = (
        f"registered instances of {result.service}: {len(result.instances)} of at most "
        f"{result.max_instances}, TTL {result.ttl_seconds:g}s, drain {result.drain_seconds:g}s"
    )
    rows = [_instance_row(i, now) for i in result.instances]
    return head + "\n" + table(_INSTANCE_HEADERS, rows)


def format_instance(answer: Any) -> str:
    result = read_answer(RegisteredInstance, answer)
    lines = [
        f"service {result.service}",
        table(_INSTANCE_HEADERS, [_instance_row(result, time.time())]),
    ]
    lines += [f"warning: {w}" for w in result.warnings or []]
    return "\n".join(lines)
