// Overview: the proxies by group and their sync state, NACKs, policy errors, the store, replicas.

import { ago, clock, empty, h, short, state, table } from "./dom.js";

function groups(proxies) {
  const byGroup = new Map();
  for (const proxy of proxies) {
    if (!byGroup.has(proxy.group)) byGroup.set(proxy.group, []);
    byGroup.get(proxy.group).push(proxy);
  }
  return [...byGroup.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function proxyState(proxy) {
  if (proxy.synced) return "synced";
  if (proxy.types.some((t) => t.state === "nacked")) return "nacked";
  if (proxy.types.some((t) => t.state === "stale")) return "stale";
  return "waiting";
}

export function render({ status, policies }) {
  const proxies = status.proxies;
  const synced = proxies.filter((p) => p.synced).length;
  // gRPC clients with their own xDS client: what each dials is what it asked LDS for.
  const proxyless = proxies.filter((p) => p.proxyless);
  const nacks = proxies.flatMap((p) =>
    p.types.filter((t) => t.nack_message).map((t) => ({ proxy: p, type: t })),
  );
  // A refused directory lists each document's errors among its load errors: show each once.
  const loadErrors = new Set(status.load_errors);
  const invalid = policies.policies
    .filter((p) => !p.valid)
    .map((p) => ({ ...p, errors: p.errors.filter((e) => !loadErrors.has(e)) }))
    .filter((p) => p.errors.length);
  const store = status.store;
  const cards = [
    ["Proxies synced", `${synced} of ${proxies.length}`],
    ["Config version", short(status.config_version)],
    ["Policy version", short(status.policy_version)],
    ["State revision", status.state_revision],
    ["Store", store.available ? "available" : "UNAVAILABLE"],
    ["Replicas", status.replicas.length || 1],
  ];
  return h(
    "div",
    {},
    h("h1", {}, "Overview"),
    h("div", { class: "cards" }, cards.map(([label, value]) =>
      h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value)),
    )),
    h("h2", {}, "Proxies by group"),
    proxies.length
      ? groups(proxies).map(([group, members]) =>
          h(
            "section",
            { class: "panel", "aria-label": `group ${group}` },
            h("h3", {}, `Group ${group}`, " ", h("span", { class: "muted" }, `node cluster ${members[0].node_cluster}`)),
            table(
              null,
              ["proxy", "state", "xDS", "gateways", "types", "connected"],
              members.map((p) => [
                h("code", {}, p.node_id),
                state(proxyState(p)),
                p.protocol,
                p.gateways.join(", ") || "none",
                h("span", {}, p.types.map((t) => [state(`${t.type} ${t.state}`, t.state), " "])),
                `${clock(p.connected_at)} (${ago(p.connected_at)})`,
              ]),
              "",
            ),
          ),
        )
      : empty(
          "No proxy is connected. `breakwater bootstrap --node-id edge-1 --node-cluster edge > bootstrap.yaml` " +
            "writes a proxy's bootstrap, `envoy -c bootstrap.yaml` connects it (see `docs/getting-started.md`).",
        ),
    proxyless.length ? h("h2", {}, "Proxyless gRPC clients") : null,
    proxyless.length
      ? table(
          null,
          ["client", "user agent", "state", "asked for", "connected"],
          proxyless.map((p) => [
            h("code", {}, p.node_id),
            p.user_agent,
            state(proxyState(p)),
            h("span", {}, p.types.map((t) => [h("code", {}, `${t.type} ${t.subscribed.join(", ") || "*"}`), " "])),
            `${clock(p.connected_at)} (${ago(p.connected_at)})`,
          ]),
          "",
        )
      : null,
    h("h2", {}, "NACKs"),
    table(
      null,
      ["proxy", "type", "rejected version", "Envoy's message"],
      nacks.map(({ proxy, type }) => [
        h("code", {}, proxy.node_id),
        state(type.type, "nacked"),
        h("code", {}, short(type.nack_version)),
        h("code", {}, type.nack_message),
      ]),
      "No proxy rejected its configuration.",
    ),
    h("h2", {}, "Policy errors"),
    status.load_errors.length
      ? h("p", {}, "The policy directory is refused; the last good configuration keeps serving.")
      : null,
    status.load_errors.length || invalid.length
      ? h(
          "ul",
          { class: "errors" },
          status.load_errors.map((e) => h("li", {}, h("code", {}, e))),
          invalid.flatMap((p) =>
            p.errors.map((e) => h("li", {}, h("code", {}, `${p.file}:${p.line}`), ` ${p.kind}/${p.name}: ${e}`)),
          ),
        )
      : h("p", { class: "empty" }, "Every policy file loads."),
    status.dropped_overrides.length
      ? [
          h("h3", {}, "Dropped weight overrides"),
          table(
            null,
            ["route", "rule", "weights", "why"],
            status.dropped_overrides.map((d) => [d.route, d.rule, JSON.stringify(d.weights), d.reason]),
            "",
          ),
        ]
      : null,
    h("h2", {}, "Store and replicas"),
    h(
      "section",
      { class: "panel" },
      h("p", {}, "Store ", h("code", {}, store.backend || "?"), ": ",
        store.available ? state("available", "synced") : state("unavailable", "bad"),
        store.error ? ` ${store.error}` : "",
        store.writes ? ` ${store.writes}` : ""),
      status.store_error ? h("p", { class: "errors" }, `Last write failed: ${status.store_error}`) : null,
      table(
        null,
        ["replica", "xDS", "admin", "policy version", "revision", "proxies", "started"],
        status.replicas.map((r) => [
          r.id + (r.self ? " (this one)" : ""),
          r.xds_address || "–",
          r.admin_address || "–",
          short(r.policy_version),
          r.state_revision,
          r.proxies.join(", ") || "none",
          clock(r.started_at),
        ]),
        "One replica.",
      ),
    ),
  );
}
