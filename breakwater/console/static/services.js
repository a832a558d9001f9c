// Services: hosts healthy and ejected, error rate and latency as the proxies report them, which
// policies apply and from which file, the instances registered with it, and `explain` for every
// effective setting.

import { get, quote } from "./api.js";
import { ago, clock, empty, h, number, state, table } from "./dom.js";

const explained = new Map(); // service → answer or {error}
const open = new Set(); // services whose explain is unfolded
let registered = new Map(); // service → InstancesResponse, for the services that take registrations

export async function load(ctx) {
  const services = ctx.policies.policies.filter((d) => d.kind === "Service" && d.valid).map((d) => d.name);
  const found = new Map();
  await Promise.all([
    ...[...open].map(async (service) => {
      try {
        explained.set(service, await get(`/v1/services/${quote(service)}/explain`));
      } catch (error) {
        explained.set(service, { error: error.message });
      }
    }),
    ...services.map(async (service) => {
      try {
        found.set(service, await get(`/v1/services/${quote(service)}/instances`));
      } catch {
        // 409: the Service takes no registrations; nothing to show.
      }
    }),
  ]);
  registered = found;
}

function leavesIn(seconds) {
  const left = Math.max(0, seconds - Date.now() / 1000);
  return `${left.toFixed(0)} s`;
}

function instances(service) {
  const answer = registered.get(service);
  if (!answer) return null;
  return h(
    "section",
    { "aria-label": `Instances registered with ${service}` },
    h("h3", {}, "Registered instances"),
    h(
      "p",
      { class: "muted" },
      `${answer.instances.length} of at most ${answer.max_instances}; TTL ${answer.ttl_seconds} s, a deregistered instance drains for ${answer.drain_seconds} s.`,
    ),
    table(
      null,
      ["instance", "state", "zone", "labels", "weight", "registered", "last renewal", "leaves in (s)"],
      answer.instances.map((i) => [
        h("code", {}, i.endpoint),
        i.state === "draining" ? state("DRAINING") : state("serving"),
        i.zone || "–",
        Object.entries(i.labels).map(([k, v]) => `${k}=${v}`).join(", ") || "–",
        i.weight,
        h("span", { title: clock(i.registered_at) }, ago(i.registered_at)),
        h("span", { title: clock(i.renewed_at) }, ago(i.renewed_at)),
        leavesIn(i.expires_at),
      ]),
      empty("No instance is registered. `breakwater endpoints register SERVICE ADDRESS:PORT --keepalive` registers one and keeps it registered."),
    ),
  );
}

function healthRows(status, service) {
  return status.services
    .filter((s) => s.service === service)
    .map((s) => [
      s.subset ? `subset ${s.subset}` : "whole service",
      s.hosts ?? "–",
      s.hosts_healthy ?? "–",
      s.hosts_ejected === null ? "–" : s.hosts_ejected > 0 ? state(String(s.hosts_ejected), "bad") : "0",
      number(s.requests_per_second, "req/s"),
      number(s.error_percent, "%"),
      number(s.p99_ms, "ms", 0),
    ]);
}

// What a ResiliencePolicy does to this service's clusters now, summed over them.
function doing(status, service) {
  if (!status) return "–";
  const effect = status.effect.filter((e) => e.service === service);
  const sum = (field) => effect.reduce((total, e) => total + (e[field] || 0), 0);
  const rejected = status.rejections.map((r) => h("div", { class: "errors" }, `rejected by ${r.node_id}: ${r.message}`));
  return [
    `${sum("hosts_ejected")} hosts ejected, ${number(sum("retries_per_second"), "retries/s")}, `,
    `${sum("bulkhead_rejections_total")} bulkhead rejections, ${sum("timeouts_total")} timeouts since start`,
    rejected,
  ];
}

// Why hosts were ejected: Envoy's detectors and the hosts that failed most (load reports).
// Envoy names no ejected host; "ejected on" is the most failing host where hosts are ejected.
function whyEjected(docs, service) {
  const effects = docs
    .filter((d) => d.status)
    .flatMap((d) => d.status.effect)
    .filter((e) => e.service === service && (e.ejections_by_detector.length || e.failing_hosts.length));
  const seen = new Set();
  const lines = [];
  for (const e of effects) {
    if (seen.has(e.cluster)) continue;
    seen.add(e.cluster);
    const window = `${e.window_seconds.toFixed(0)} s`;
    for (const d of e.ejections_by_detector) {
      lines.push(
        `${e.cluster}: ${d.detector.replaceAll("_", " ")}: ${d.recent} ejections on ${d.proxies} of ${e.proxies_reporting} proxies in the last ${window}, ${d.total} since start`,
      );
    }
    for (const host of e.failing_hosts) {
      const ejected = host.ejected_on ? `; ejected on ${host.ejected_on} of ${e.proxies_reporting} proxies` : "";
      const last = host.last_failed_at === null ? "–" : clock(host.last_failed_at).slice(11);
      lines.push(
        `${e.cluster}: ${host.address}: ${host.failed} of ${host.requests} requests failed in the last ${window} on ${host.proxies_failing} of ${host.proxies_reporting} proxies, last at ${last}${ejected}`,
      );
    }
  }
  if (!lines.length) return null;
  return h(
    "section",
    { "aria-label": `Why ${service} ejected hosts` },
    h("h3", {}, "Why hosts were ejected"),
    h("ul", {}, lines.map((line) => h("li", {}, line))),
  );
}

function explainTable(answer) {
  if (!answer) return h("p", { class: "muted" }, "Reading…");
  if (answer.error) return h("p", { class: "errors" }, answer.error);
  return answer.sections.map((section) =>
    h(
      "section",
      { "aria-label": section.title },
      h("h4", {}, section.title),
      table(
        null,
        ["setting", "value", "set by", "Envoy field", "where Envoy differs"],
        section.settings.map((s) => [
          h("code", {}, s.path),
          h("code", {}, typeof s.value === "string" ? s.value : JSON.stringify(s.value)),
          s.set_by,
          h("code", {}, s.envoy),
          s.differs || "–",
        ]),
        "Nothing set: Envoy's defaults apply.",
        "explain",
      ),
    ),
  );
}

export function render(ctx) {
  const docs = ctx.policies.policies;
  const services = docs.filter((d) => d.kind === "Service" && d.valid).map((d) => d.name).sort();
  return h(
    "div",
    {},
    h("h1", {}, "Services"),
    h("p", { class: "muted" }, "Hosts, rates, 5xx share and p99 latency over the fleet's last window, as the proxies report them."),
    services.length
      ? services.map((service) => {
          const applying = docs.filter(
            (d) => d.kind !== "Service" && d.valid && d.services.includes(service),
          );
          const slug = service.replace(/[^A-Za-z0-9_-]/g, "_");
          return h(
            "article",
            { class: "panel", "aria-labelledby": `service-${slug}` },
            h("h2", { id: `service-${slug}` }, "Service ", h("code", {}, service)),
            table(
              null,
              ["cluster", "hosts", "healthy", "ejected", "rate (req/s)", "5xx (%)", "p99 (ms)"],
              healthRows(ctx.status, service),
              "No proxy has reported on this service yet.",
            ),
            whyEjected(applying, service),
            instances(service),
            h("h3", {}, "What applies"),
            table(
              null,
              ["document", "from", "proxies holding it", "doing now"],
              applying.map((d) => [
                `${d.kind}/${d.name}`,
                h("code", {}, `${d.file}:${d.line}`),
                d.status
                  ? `${d.status.proxies.applied} applied, ${d.status.proxies.pending} pending, ${d.status.proxies.rejected} rejected`
                  : `${d.proxies.length} ${d.proxies.length === 1 ? "proxy" : "proxies"}`,
                doing(d.status, service),
              ]),
              "No policy names this service: the fleet defaults apply.",
            ),
            h(
              "details",
              {
                id: `explain-${slug}`,
                open: open.has(service),
                ontoggle: (e) => {
                  if (e.target.open === open.has(service)) return;
                  if (e.target.open) open.add(service);
                  else open.delete(service);
                  ctx.refresh(true);
                },
              },
              h("summary", { id: `explain-${slug}-summary` }, `Explain every setting of ${service}`),
              open.has(service) ? explainTable(explained.get(service)) : null,
            ),
          );
        })
      : empty(
          "No Service is served. `deploy/examples/services.yaml` declares some; " +
            "`python -m breakwater.devtools.upstream --policies DIR` starts an upstream for each of DIR's endpoints.",
        ),
  );
}
