"""BENCHMARKS.md from a run's results: the figures, the targets they meet or miss, and the
findings (prose in `findings.md` and `fanout_ab.md`, with the sentences computed from the run),
and the paired runs kept in `translation_runs.md`, `edit_runs.md` and `fanout_runs.md` (runs of
two commits side by side cannot come from one run of this script).

`python -m bench.run --render` writes it again from the last `results.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import (
    auth,
    edit,
    envoys,
    fanout,
    kubernetes,
    registration,
    scenario,
    sovereign,
    translate,
)
from bench.peers import compare
from bench.scenario import ENVOYS, FANOUT_SIZES, TRANSLATE_SIZES
from breakwater.defaults import DEBOUNCE_QUIET

FANOUT_AB = Path(__file__).with_name("fanout_ab.md")
TRANSLATION_RUNS = Path(__file__).with_name("translation_runs.md")
FANOUT_RUNS = Path(__file__).with_name("fanout_runs.md")

TARGET_TRANSLATE_S = 1.0
TARGET_FLOOR_RATIO = 10.0
TARGET_P99_S = 1.0
TARGET_KIB = 20.0
TARGET_SPEEDUP = 20.0
TARGET_CPU_SHARE = 0.1


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def by_factor(value: float | None, target: float, lower_is_better: bool = True) -> str:
    if value is None:
        return "no figure"
    if lower_is_better:
        return (
            f"{value / target:.1f}x the target"
            if value > target
            else f"{target / value:.1f}x better than the target"
        )
    return (
        f"{value / target:.1f}x the target" if value >= target else f"{target / value:.1f}x short"
    )


def ok(result: Any) -> bool:
    return isinstance(result, dict) and "failed" not in result


def profile_lines(rows: list[list[Any]] | None) -> list[str]:
    if not rows:
        return ["(no profile: py-spy could not be installed or attached)"]
    return ["```", *(f"{share * 100:5.1f}%  {frame}" for share, frame in rows), "```"]


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    out: list[str] = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench.run`); every figure below comes",
        "from that run. `make bench-quick` runs a one-minute subset and prints JSON.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu_model']} ({m['cpu_mhz']} MHz) |",
        f"| cores | {m['cores']} |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| kernel / Python | {m['kernel']} / {m['python']} |",
        f"| run | {results['started']}, {results['elapsed_s'] / 60:.1f} min |",
        f"| load average (1/5/15 min) before / after | {results['load_before']} / {results['load_after']} |",
        "",
        "Server, load generator and (for the last table) Sovereign share these cores: the",
        "load generator's own CPU is reported where it matters. A load average above the",
        "core count before the run means other work was running and figures are noisier.",
        "",
    ]

    # translation
    out += [
        "## Translation: N services → complete snapshot",
        "",
        "Each service: two endpoints, subsets `stable`/`canary`, a ResiliencePolicy (circuit",
        "breaker, bulkhead, retry with backoff, timeouts, HTTP health check) and an HTTPRoute",
        "splitting 90/10, sticky on a header; one gateway, one fleet default",
        "(`bench/policies.py`). Time = `snapshot.build()` (PolicySet → IR → encoded",
        "resources, nothing reused) + `Snapshot()` (versions per type), median of 3",
        "runs in a fresh process, the previous snapshot kept alive as in the server, the",
        "cyclic collector paused around each build as the server pauses it (GC s: the",
        "collection that runs once it is back on, not part of the total). Floor =",
        "`SerializeToString()` of the same messages, best of 3.",
        "",
        "| services | resources | translate s | snapshot s | total s | of which GC s | of which policy merging s | floor s | total / floor | command |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in results["translate"]:
        if not ok(row):
            out.append(f"| ? | failed: {row['failed']} | | | | | | | | |")
            continue
        res = ", ".join(f"{k} {v}" for k, v in row["resources"].items())
        out.append(
            f"| {row['services']} | {res} | {fmt(row['translate_s'])} | {fmt(row['snapshot_s'])} | "
            f"{fmt(row['total_s'])} | {fmt(row['gc_s'])} | {fmt(row['merge_s'])} | "
            f"{fmt(row['floor_s'], 4)} | {row['ratio']:.0f}x | "
            f"`{translate.command_for(row['services'], row['repeats'])}` |"
        )
    out += [
        "",
        "Loading and validating the YAML is not part of the figure; for reference it took "
        + ", ".join(
            f"{fmt(r['load_s'], 2)} s ({r['services']} services)"
            for r in results["translate"]
            if ok(r)
        )
        + ".",
        "",
        *TRANSLATION_RUNS.read_text().splitlines(),
        "",
    ]

    out += edit.render_section(results.get("edit", []))
    if "kubernetes" in results:
        out += kubernetes.render_section(results["kubernetes"])

    # fan-out
    out += [
        "## Fan-out: one weight change to N ADS streams",
        "",
        f"`breakwater serve` in its own process; {scenario.FANOUT_SERVICES} services",
        f"({2 * scenario.FANOUT_SERVICES} clusters); every simulated proxy in node cluster `edge`",
        "(one group, one snapshot), subscribing like Envoy (CDS+LDS wildcard, then EDS and",
        "RDS by name), ACKing everything; 100 streams per gRPC channel (TCP connection),",
        "one load-generator process per 1 000 streams (at most one per core).",
        "Latency: from just before `PUT /v1/routes/svc-00000/weights` until each stream has",
        "received and ACKed the new RDS version (includes the API, the durable store write,",
        f"the {DEBOUNCE_QUIET * 1000:g} ms debounce quiet period and translation); pooled over 3 "
        "pushes.",
        "CPU per push: server CPU seconds from the PUT until the last ACK arrived, and until",
        "the server was idle again (< 0.1 core over 0.5 s; the next push waits for that);",
        "`quiet after` is when that happened, counted from the PUT (worst push).",
        "Idle memory: server RSS with the fleet connected minus RSS with one probe stream,",
        "per stream. Idle CPU: server CPU seconds per second, nothing changing.",
        "",
        "| streams | mode | connected | connect s | connect CPU s | p50 s | p99 s | max s | missing | CPU s / push (to last ACK) | CPU s / push (to idle) | quiet after s | load gen CPU s / push | idle KiB / stream | idle CPU s/s | server histogram mean s | command |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in [*results["fanout"], *results["fanout_delta"]]:
        if not ok(row):
            out.append(f"| ? | failed: {row['failed']} |" + " |" * 15)
            continue
        out.append(
            f"| {row['streams']} | {row['mode']} | {row['connect']['synced']} | "
            f"{fmt(row['connect_s'], 1)} | {fmt(row['connect_cpu_s'], 1)} | "
            f"{fmt(row.get('p50_s'))} | {fmt(row.get('p99_s'))} | {fmt(row.get('max_s'))} | "
            f"{row['missing']} | {fmt(row['cpu_per_push_s'], 2)} | "
            f"{fmt(row['cpu_until_quiet_per_push_s'], 2)} | {fmt(row['quiet_after_s'], 1)} | "
            f"{fmt(row['client_cpu_per_push_s'], 2)} | {fmt(row['idle_kib_per_stream'], 1)} | "
            f"{fmt(row['idle_cpu_per_s'], 3)} | {fmt(row['server_change_to_ack_mean_s'])} | "
            f"`{fanout.command_for(row['streams'], row['mode'], len(row['pushes']))}` |"
        )
    out += [
        "",
        "`server histogram mean` is `breakwater_change_to_ack_seconds` (sum/count) over the",
        "same pushes, as the server itself measures it (— : not observed by then).",
        "",
        "### A whole fleet connecting to a freshly started server",
        "",
        "No probe stream first: the group's snapshot is built for the first proxy and that",
        "change stays pending until every proxy is synced (a control plane restart or a",
        "failover to another replica looks like this).",
        "",
        "| streams | synced | within s | connect s | server CPU s | command |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for row in results.get("cold", []):
        if not ok(row):
            out.append(f"| ? | failed: {row['failed']} | | | | |")
            continue
        out.append(
            f"| {row['streams']} | {row['synced']} | {row['timeout_s']:.0f} | "
            f"{fmt(row['connect_s'], 1)} | {fmt(row['connect_cpu_s'], 1)} | "
            f"`.venv/bin/python -m bench.fanout --cold --streams {row['streams']}` |"
        )
    out.append("")
    # Paired runs of two commits cannot come from one run of this script; they are
    # kept in their own file so that rewriting this one does not lose them.
    out += [*FANOUT_AB.read_text().splitlines(), ""]
    out += [*FANOUT_RUNS.read_text().splitlines(), ""]

    # envoys
    out += [
        f"## Real Envoys: {ENVOYS} x Envoy 1.40 converging after a weight change",
        "",
        "Same policy set and change; ACK time per Envoy read from `/v1/status` polled every",
        "~10 ms (so up to one poll late); 3 pushes; each Envoy's config dump checked for the",
        "new weights.",
        "",
        "| Envoys | mode | p50 s | p99 s | max s | missing | new weights in every config dump | server histogram mean s | RSS per Envoy MiB | command |",
        "|---:|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for row in results["envoys"]:
        if not ok(row):
            out.append(f"| ? | failed: {row['failed']} |" + " |" * 8)
            continue
        out.append(
            f"| {row['envoys']} | {row['mode']} | {fmt(row.get('p50_s'))} | {fmt(row.get('p99_s'))} | "
            f"{fmt(row.get('max_s'))} | {row.get('missing', 0)} | {row['weights_in_config_dump']} | "
            f"{fmt(row['server_change_to_ack_mean_s'])} | {fmt(row['envoy_rss_mib'], 0)} | "
            f"`{envoys.command_for(row['envoys'], row['mode'] == 'delta')}` |"
        )
    out.append("")

    # sovereign
    out += fleet_section(results)
    out += registration.section(results.get("registration", []))
    out += auth.section(results.get("auth", []))
    if results.get("peers"):
        out += ["", *compare.section(results["peers"]), ""]
    out += sovereign_section(results)
    out += targets_section(results)
    out += findings_section(results)
    return "\n".join(out) + "\n"


def fleet_section(results: dict[str, Any]) -> list[str]:
    rows = [r for r in results.get("fleet", []) if ok(r)]
    out = [
        "## Fleet reports: N proxies flushing their stats",
        "",
        "`python -m bench.fleet --proxies N`: each simulated proxy sends, every 5 s, one OTLP",
        "export shaped like Envoy's OpenTelemetry stats sink for 20 clusters (Envoy's usual",
        "counters, gauges and histograms, counters as deltas); one ADS stream keeps the group's",
        "snapshot, so every cluster is served and the whole aggregation path runs. Server CPU and",
        "RSS over 30 s once every proxy reported; the load generator shares the cores.",
        "",
        "| proxies | report size | reports/s | server CPU (cores) | CPU per report | RSS before → after | RSS per proxy |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['proxies']} | {r['report_bytes'] / 1024:.0f} KiB | {r['reports_per_s']:.0f} "
            f"| {r['server_cpu_per_s']:.2f} | {r['server_cpu_ms_per_report']:.2f} ms "
            f"| {r['rss_before_mib']:.0f} → {r['rss_after_mib']:.0f} MiB | {r['rss_per_proxy_kib']:.1f} KiB |"
        )
    if not rows:
        out.append("| (not run) | | | | | | |")
    return [*out, ""]


def sovereign_section(results: dict[str, Any]) -> list[str]:
    version = results.get("sovereign_version")
    out = [
        "## Side by side with Sovereign",
        "",
    ]
    if not isinstance(version, str):
        reason = version.get("failed") if isinstance(version, dict) else "not run"
        return [*out, f"Sovereign could not be installed: {reason}", ""]
    out += [
        f"Sovereign {version} (PyPI, latest), in its own virtualenv (`build/sovereign-venv`),",
        "run as it ships (`sovereign`: gunicorn with uvicorn workers, its default of",
        "2 x cores + 1 workers), access logs off. It serves the very resources Breakwater",
        "renders for the fan-out policy set, from Python templates (its cheapest kind) with",
        "route weights from a file source; a change rewrites that file. Sovereign re-reads",
        f"sources every `source_config.refresh_rate` = {sovereign.SOURCE_REFRESH} s (its",
        "minimum; the default is 30 s).",
        "",
        "Clients poll like Envoy with `api_type: REST`: each of the 4 subscriptions POSTs",
        f"`/v3/discovery:<type>` with its `version_info`, then waits `refresh_delay` = "
        f"{sovereign.POLL_INTERVAL:.0f} s",
        "(Envoy's default, and the interval at which REST convergence is comparable to a",
        "push: longer intervals only slow Sovereign's convergence further, shorter ones",
        "multiply its load) before the next poll. Convergence: from the file rewrite until",
        "every client holds the new route version. Idle CPU: all Sovereign processes, CPU",
        "seconds per second while the fleet polls and nothing changes.",
        "",
        "| clients | Sovereign processes | polls/s sustained (offered at 0 latency) | 304 share | idle CPU s/s | load gen CPU s/s | p50 s | p99 s | max s | never converged (bound) | errors | Breakwater max s (same N) | Breakwater idle CPU s/s | faster x (max) | idle CPU ratio | command |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    fan = {r["streams"]: r for r in results["fanout"] if ok(r)}
    for row in results["sovereign"]:
        if not ok(row):
            out.append(f"| ? | failed: {row['failed']} |" + " |" * 14)
            continue
        ours = fan.get(row["clients"], {})
        speedup, cpu_ratio = comparison(row, ours)
        out.append(
            f"| {row['clients']} | {row['sovereign_processes']} | {row['polls_per_s']:.0f} "
            f"({row['offered_polls_per_s']:.0f}) | {row['not_modified_share'] * 100:.0f}% | "
            f"{fmt(row['idle_cpu_per_s'], 2)} | {fmt(row['client_cpu_per_s'], 2)} | "
            f"{fmt(row.get('p50_s'), 2)} | {fmt(row.get('p99_s'), 2)} | {fmt(row.get('max_s'), 2)} | "
            f"{row['missing']} ({row['change_timeout_s']:.0f} s) | {row['errors']} | "
            f"{fmt(ours.get('max_s'))} | {fmt(ours.get('idle_cpu_per_s'), 3)} | "
            f"{speedup} | {cpu_ratio} | `{sovereign.command_for(row['clients'])}` |"
        )
    out += [
        "",
        'Where clients never converged, Sovereign\'s "every client" time is longer than the',
        "bound, so the speed-up shown (computed with the bound) is a lower bound.",
        "",
    ]
    return out


def comparison(theirs: dict[str, Any], ours: dict[str, Any]) -> tuple[str, str]:
    their_max = theirs.get("max_s")
    if theirs.get("missing"):
        their_max = theirs["change_timeout_s"]
    our_max = ours.get("max_s")
    speedup = (
        f"{their_max / our_max:.0f}x"
        + ("+" if theirs.get("missing") else "")
        + ("" if not ours.get("missing") else " (ours incomplete)")
        if their_max and our_max
        else "—"
    )
    ours_cpu = ours.get("idle_cpu_per_s")
    their_cpu = theirs.get("idle_cpu_per_s")
    ratio = f"1/{their_cpu / ours_cpu:.0f}" if ours_cpu and their_cpu else "—"
    return speedup, ratio


def targets_section(results: dict[str, Any]) -> list[str]:
    out = [
        "## Targets",
        "",
        "| target | figure | verdict | by how much |",
        "|---|---|---|---|",
    ]
    biggest = next(
        (r for r in results["translate"] if ok(r) and r["services"] == max(TRANSLATE_SIZES)),
        None,
    )
    if biggest is not None:
        total = biggest["total_s"]
        out.append(
            f"| {max(TRANSLATE_SIZES)} services translated in < {TARGET_TRANSLATE_S:.0f} s | {total:.2f} s | "
            f"{verdict(total < TARGET_TRANSLATE_S)} | {by_factor(total, TARGET_TRANSLATE_S)} |"
        )
        out.append(
            f"| within {TARGET_FLOOR_RATIO:.0f}x of the serialization floor | {biggest['ratio']:.0f}x | "
            f"{verdict(biggest['ratio'] <= TARGET_FLOOR_RATIO)} | "
            f"{by_factor(biggest['ratio'], TARGET_FLOOR_RATIO)} |"
        )
    largest = next(
        (r for r in results["fanout"] if ok(r) and r["streams"] == max(FANOUT_SIZES)), None
    )
    if largest is not None:
        p99 = largest.get("p99_s")
        complete = largest["connect"]["synced"] == largest["streams"] and not largest["missing"]
        note = (
            ""
            if complete
            else f" (only {largest['connect']['synced']} of {largest['streams']} streams connected)"
        )
        out.append(
            f"| {max(FANOUT_SIZES)} streams: p99 change-to-ACK < {TARGET_P99_S:.0f} s | {fmt(p99)} s{note} | "
            f"{verdict(p99 is not None and p99 < TARGET_P99_S and complete)} | "
            f"{by_factor(p99, TARGET_P99_S)} |"
        )
        kib = largest.get("idle_kib_per_stream")
        out.append(
            f"| idle memory < {TARGET_KIB:.0f} KiB per stream | {fmt(kib, 1)} KiB | "
            f"{verdict(kib is not None and kib < TARGET_KIB)} | {by_factor(kib, TARGET_KIB)} |"
        )
    fan = {r["streams"]: r for r in results["fanout"] if ok(r)}
    for row in results.get("sovereign", []):
        if not ok(row) or row["clients"] not in fan:
            continue
        ours = fan[row["clients"]]
        speedup, cpu_ratio = comparison(row, ours)
        their_max = row["change_timeout_s"] if row.get("missing") else row.get("max_s")
        factor = their_max / ours["max_s"] if their_max and ours.get("max_s") else None
        out.append(
            f"| vs Sovereign at {row['clients']}: ≥ {TARGET_SPEEDUP:.0f}x faster convergence | {speedup} | "
            f"{verdict(factor is not None and factor >= TARGET_SPEEDUP)} | "
            f"{by_factor(factor, TARGET_SPEEDUP, lower_is_better=False)} |"
        )
        share = (
            ours["idle_cpu_per_s"] / row["idle_cpu_per_s"] if row.get("idle_cpu_per_s") else None
        )
        out.append(
            f"| vs Sovereign at {row['clients']}: ≤ 1/10 of its idle CPU | {cpu_ratio} | "
            f"{verdict(share is not None and share <= TARGET_CPU_SHARE)} | "
            f"{by_factor(share, TARGET_CPU_SHARE)} |"
        )
    out.append("")
    return out


FINDINGS = Path(__file__).with_name("findings.md")
"""What the profiles showed and what was done about it: prose, kept as Markdown. Its lines
`{translation}` and `{fanout}` stand for the sentences computed from this run's numbers."""


def findings_section(results: dict[str, Any]) -> list[str]:
    computed = {
        "{translation}": _translation_findings(results),
        "{fanout}": _fanout_findings(results),
    }
    out: list[str] = []
    for line in FINDINGS.read_text().split("\n"):
        out += computed.get(line, [line])
    return out


def _translation_findings(results: dict[str, Any]) -> list[str]:
    biggest: dict[str, Any] = next(
        (r for r in results["translate"] if ok(r) and r["services"] == max(TRANSLATE_SIZES)),
        {},
    )
    if not biggest:
        return []
    total = biggest["total_s"]
    return [
        f"At {biggest['services']} services: {total:.2f} s with the collector paused (its",
        f"collection afterwards {biggest['gc_s']:.2f} s, not counted), policy",
        f"merging (`merge_layers`) {biggest['merge_s']:.2f} s",
        f"({biggest['merge_s'] / total * 100:.0f}%) and `Snapshot`",
        f"{biggest['snapshot_s']:.2f} s; serializing the same messages takes",
        f"{biggest['floor_s'] * 1000:.0f} ms. Timed by phase, resolving the IR is about",
        "three fifths (merging an eighth) and building the resources two fifths (the",
        "virtual hosts, still built as messages, the largest part).",
        "",
    ]


def _fanout_findings(results: dict[str, Any]) -> list[str]:
    largest: dict[str, Any] = next(
        (r for r in results["fanout"] if ok(r) and r["streams"] == max(FANOUT_SIZES)), {}
    )
    if not largest:
        return []
    cores = results["machine"]["cores"] or 1
    server_cpu = largest["cpu_per_push_s"]
    client_cpu = largest["client_cpu_per_push_s"]
    return [
        f"At {largest['streams']} streams one push costs the server {server_cpu:.2f} CPU",
        f"seconds until the last ACK ({server_cpu / largest['streams'] * 1e6:.0f} µs per",
        f"stream) and the load generator {client_cpu:.2f}, on {cores} shared cores: the",
        "slowest stream cannot have the push in much less than",
        f"({server_cpu:.2f} + {client_cpu:.2f}) / {cores} = {(server_cpu + client_cpu) / cores:.2f} s"
        " however the work is scheduled. CPU is the bound.",
        "",
        f"Server profile (py-spy, {largest['streams']} streams, all samples including idle",
        "ones) while the fleet connects:",
        "",
        *profile_lines(largest.get("profile_connect")),
        "",
        "and during the pushes:",
        "",
        *profile_lines(largest.get("profile_push")),
        "",
        "`Handle._run` is everything the event loop runs; its own share is gRPC's",
        "Cython/C-core work (sending each response, reading each ACK), invisible to",
        "py-spy as Python frames.",
        "",
    ]
