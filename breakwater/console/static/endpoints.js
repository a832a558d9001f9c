// Drained endpoints: every drain with who made it, and each service's endpoints to drain or
// undrain, each write naming the revision it was shown.

import { call, get, quote } from "./api.js";
import { clock, empty, h, state, table } from "./dom.js";

let lists = new Map(); // service → EndpointsResponse or {error}

export async function load(ctx) {
  const services = ctx.policies.policies.filter((d) => d.kind === "Service" && d.valid).map((d) => d.name).sort();
  const found = new Map();
  await Promise.all(
    services.map(async (service) => {
      try {
        found.set(service, await get(`/v1/services/${quote(service)}/endpoints`));
      } catch (error) {
        found.set(service, { error: error.message });
      }
    }),
  );
  lists = found;
}

function path(e) {
  return `/v1/services/${quote(e.service)}/endpoints/${quote(e.endpoint)}/drain`;
}

function button(e, ctx) {
  const slug = `${e.service}-${e.endpoint}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const what = `the drain of ${e.endpoint} in ${e.service}`;
  if (e.drained_by) {
    return h("button", {
      type: "button", class: "secondary", id: `undrain-${slug}`, disabled: !ctx.canWrite,
      onclick: () => ctx.write(what, () => call("DELETE", `${path(e)}?expectedRevision=${e.revision}`), e.revision),
    }, "Undrain");
  }
  return h("button", {
    type: "button", class: "secondary", id: `drain-${slug}`, disabled: !ctx.canWrite,
    onclick: () => ctx.write(what, () => call("PUT", path(e), { expectedRevision: e.revision }), e.revision),
  }, "Drain");
}

function row(e, ctx) {
  const current = e.drained ? state("DRAINING") : e.drained_by ? state("kept: not in the YAML", "stale") : state("serving");
  return [h("code", {}, e.endpoint), current, e.drained_by || "–", clock(e.drained_at), e.revision, button(e, ctx)];
}

const HEADERS = ["endpoint", "state", "drained by", "since", "revision", "action"];

export function render(ctx) {
  const drained = ctx.status.drained_endpoints;
  return h(
    "div",
    {},
    h("h1", {}, "Drained endpoints"),
    h("p", { class: "muted" }, "A drained endpoint gets no new requests; those in flight finish (EDS DRAINING)."),
    table("Every drain", ["service", ...HEADERS], drained.map((e) => [e.service, ...row(e, ctx)]), empty("No endpoint is drained. `breakwater endpoints drain SERVICE ADDRESS:PORT` drains one, as the buttons below do.")),
    ctx.canWrite ? null : h("p", { class: "muted" }, "Read-only: enter the token to drain or undrain."),
    h("h2", {}, "Endpoints by service"),
    [...lists.entries()].map(([service, answer]) =>
      h(
        "section",
        { class: "panel", "aria-label": `endpoints of ${service}` },
        h("h3", {}, "Service ", h("code", {}, service)),
        answer.error ? h("p", { class: "muted" }, answer.error) : table(null, HEADERS, answer.endpoints.map((e) => row(e, ctx)), "No endpoints."),
      ),
    ),
  );
}
