// Routes: each rule's weights and the split the proxies report, and a compare-and-set editor.
//
// An editor keeps what it was shown (weights and revision) from the moment the user changes a
// value, so a write names the revision the user saw: if someone changed the rule meanwhile, the
// API answers 409 and the page says so instead of overwriting their change.

import { call, quote } from "./api.js";
import { empty, h, number } from "./dom.js";

const editing = new Map(); // "route/rule" → {weights, revision}

function key(route, rule) {
  return `${route}/${rule.index}`;
}

function liveRate(services, backend) {
  const found = services.find(
    (s) => s.service === backend.service && (s.subset ?? null) === (backend.subset ?? null),
  );
  return found ? found.requests_per_second : null;
}

function fieldId(slug, label) {
  return `w-${slug}-${label}`.replace(/[^A-Za-z0-9_-]/g, "_");
}

function shares(values) {
  const total = values.reduce((a, b) => a + b, 0);
  return values.map((v) => (total ? (100 * v) / total : 0));
}

function editor(route, rule, ctx) {
  const id = key(route.name, rule);
  const held = editing.get(id);
  const shown = held || {
    weights: Object.fromEntries(rule.backends.map((b) => [b.label, b.weight])),
    revision: rule.revision,
  };
  const rates = rule.backends.map((b) => liveRate(ctx.status.services, b));
  const reported = rates.some((r) => r !== null);
  const liveShares = shares(rates.map((r) => r || 0));
  const planned = shares(rule.backends.map((b) => shown.weights[b.label]));
  const locked = !ctx.canWrite || rule.rollout !== null;
  const slug = `${route.name}-${rule.index}`.replace(/[^A-Za-z0-9_-]/g, "_");

  // A change is recorded and the planned shares follow in place: redrawing the form here would
  // replace the button the user is about to click.
  const changed = (label, value) => {
    const current = editing.get(id) || { weights: { ...shown.weights }, revision: shown.revision };
    current.weights[label] = Math.max(0, Math.round(Number(value) || 0));
    editing.set(id, current);
    const now = shares(rule.backends.map((b) => current.weights[b.label]));
    rule.backends.forEach((b, i) => {
      const cell = document.getElementById(`${fieldId(slug, b.label)}-planned`);
      if (cell) cell.firstChild.textContent = `${number(now[i], "%")} `;
      const bar = cell && cell.querySelector(".bar");
      if (bar) bar.style.width = `${now[i] * 0.8}px`;
    });
    const discard = document.getElementById(`discard-${slug}`);
    if (discard) discard.disabled = false;
  };
  const apply = (event) => {
    event.preventDefault();
    const sent = editing.get(id) || shown;
    ctx.write(
      `the weights of ${route.name} rule ${rule.index}`,
      () =>
        call("PUT", `/v1/routes/${quote(route.name)}/weights`, {
          weights: sent.weights,
          rule: rule.index,
          expectedRevision: sent.revision,
        }),
      sent.revision,
      () => editing.delete(id),
    );
  };
  const reset = () => {
    ctx.write(
      `the weights of ${route.name} rule ${rule.index}`,
      () =>
        call(
          "DELETE",
          `/v1/routes/${quote(route.name)}/weights?rule=${rule.index}&expectedRevision=${shown.revision}`,
        ),
      shown.revision,
      () => editing.delete(id),
    );
  };

  return h(
    "form",
    { class: "editor", onsubmit: apply, "aria-label": `weights of ${route.name} rule ${rule.index}` },
    h(
      "fieldset",
      {},
      h("legend", {}, `Rule ${rule.index}`, rule.name ? ` (${rule.name})` : ""),
      h(
        "p",
        { class: "muted" },
        `Weights from ${rule.source === "override" ? "an API override" : "the YAML"}, revision ${rule.revision}.`,
        held && held.revision !== rule.revision
          ? h("strong", {}, ` Changed since you started editing (now revision ${rule.revision}).`)
          : "",
        rule.rollout ? h("strong", {}, ` Rollout ${rule.rollout} drives these weights.`) : "",
      ),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "backend"),
          h("th", { scope: "col" }, "weight"),
          h("th", { scope: "col", class: "num" }, "planned (%)"),
          h("th", { scope: "col", class: "num" }, "live (req/s)"),
          h("th", { scope: "col", class: "num" }, "live (%)"),
        )),
        h("tbody", {}, rule.backends.map((b, i) => {
          const field = fieldId(slug, b.label);
          const value = shown.weights[b.label];
          return h("tr", {},
            h("th", { scope: "row" }, h("label", { for: field }, b.label), h("div", { class: "muted" }, b.subset ? `${b.service} subset ${b.subset}` : b.service)),
            h("td", {},
              h("input", {
                id: field, type: "number", min: 0, step: 1, value, disabled: locked,
                name: b.label, "aria-describedby": `${slug}-hint`,
                oninput: (e) => {
                  document.getElementById(`${field}-range`).value = e.target.value;
                  changed(b.label, e.target.value);
                },
              }),
              " ",
              h("input", {
                id: `${field}-range`, type: "range", min: 0, max: 100, step: 1, value: Math.min(100, value),
                disabled: locked, "aria-label": `${b.label} weight slider`,
                oninput: (e) => {
                  document.getElementById(field).value = e.target.value;
                  changed(b.label, e.target.value);
                },
              }),
            ),
            h("td", { class: "num", id: `${field}-planned` }, `${number(planned[i], "%")} `, h("span", { class: "bar", "data-width": planned[i] })),
            h("td", { class: "num" }, rates[i] === null ? "–" : number(rates[i], "req/s")),
            h("td", { class: "num", id: `${field}-live` }, reported ? number(liveShares[i], "%") : "–", " ", reported ? h("span", { class: "bar live", "data-width": liveShares[i] }) : ""),
          );
        })),
      ),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", id: `apply-${slug}`, disabled: locked }, "Apply weights"),
        h("button", { type: "button", class: "secondary", id: `discard-${slug}`, disabled: !held, onclick: () => { editing.delete(id); ctx.refresh(); } }, "Discard changes"),
        h("button", { type: "button", class: "secondary", id: `reset-${slug}`, disabled: locked || rule.source !== "override", onclick: reset }, "Back to the YAML weights"),
        h("span", { id: `${slug}-hint`, class: "muted" },
          !ctx.canWrite ? "Read-only: enter the token to change weights." : rule.rollout ? `Abort or finish Rollout ${rule.rollout} to write these weights.` : `Sends revision ${shown.revision}.`),
      ),
      !reported ? h("p", { class: "muted" }, "No proxy has reported traffic for these backends yet.") : null,
    ),
  );
}

export function render(ctx) {
  const routes = ctx.routes.routes;
  return h(
    "div",
    {},
    h("h1", {}, "Routes"),
    h("p", { class: "muted" }, "Live split: requests per second each backend's cluster served over the fleet's last window, as the proxies report it."),
    routes.length
      ? routes.map((route) =>
          h(
            "article",
            { class: "panel", "aria-labelledby": `route-${route.name}` },
            h("h2", { id: `route-${route.name}` }, "HTTPRoute ", h("code", {}, route.name)),
            h("p", { class: "muted" }, `Gateways ${route.gateways.join(", ")}; hosts ${route.hostnames.join(", ")}`),
            route.rules.map((rule) =>
              rule.backends.length > 1
                ? editor(route, rule, ctx)
                : h("p", {}, `Rule ${rule.index}${rule.name ? ` (${rule.name})` : ""}: all traffic to `,
                    h("code", {}, rule.backends.map((b) => b.label).join(", ") || "no backend (redirect or fixed response)")),
            ),
          ),
        )
      : empty("No HTTPRoute is served. `deploy/examples/routes.yaml` has two; `breakwater serve -c DIR` serves those of DIR."),
  );
}

export function forget() {
  editing.clear();
}

